"""Prometheus metrics of the command path, served at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

COMMANDS = Counter(
    "jobstream_commands_total", "Commands processed, by outcome", ["outcome"]
)  # applied | rejected | duplicate | dead_lettered
BATCH_SIZE = Histogram(
    "jobstream_batch_size", "Commands per processed batch", buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2000)
)
LATENCY = Histogram(
    "jobstream_command_latency_seconds",
    "From the command's Kafka timestamp to its event being durable",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RETENTION_DELETES = Counter(
    "jobstream_retention_deletes_total",
    "Delete commands published for terminal jobs older than JOBSTREAM_RETENTION_DAYS (or by jobstream prune)",
)
RETRIES = Counter("jobstream_batch_retries_total", "Batches retried, by cause", ["cause"])
CONSUMER_LAG = Gauge("jobstream_consumer_lag", "Messages not yet processed, by partition", ["partition"])
ISOLATED = Counter(
    "jobstream_isolated_records_total",
    "Records that failed on every attempt and were given a final outcome of their own, by agent",
    ["agent"],
)
FORWARDED = Counter(
    "jobstream_commands_forwarded_total",
    "Commands that arrived on another partition than murmur2(key) picks (a producer not partitioning as"
    " Kafka's Java client) and were forwarded to their job's partition, by source partition",
    ["partition"],
)
