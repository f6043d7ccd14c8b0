"""Prometheus metrics of a worker process, served on its own port (JOBSTREAM_METRICS_PORT,
streams/worker/metrics_server.py). The API serves only its own (streams/api/metrics.py)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

COMMANDS = Counter(
    "jobstream_commands_total", "Commands processed, by outcome", ["outcome"]
)  # applied | rejected | duplicate | dead_lettered | heartbeat (rule 16: applied, no event)
BATCH_SIZE = Histogram(
    "jobstream_batch_size", "Commands per processed batch", buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2000)
)
BATCH_WRITES = Counter(
    "jobstream_batch_writes_total",
    "Batches written, by path: one guarded statement (unchanged) or a locking transaction (locked)",
    ["path"],
)  # unchanged | locked (docs/contract.md rule 11)
BATCH_FALLBACKS = Counter(
    "jobstream_batch_fallbacks_total",
    "Batches decided for the one guarded statement but written by a locking transaction instead (Postgres"
    " disagreed with the state table, a delete, a resend older than the processor's memory)",
)
BATCH_SECONDS = Histogram(
    "jobstream_batch_seconds",
    "Time to process one batch of commands: Postgres transaction, events and changelog acknowledged",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
TABLE_WRITES = Counter(
    "jobstream_table_writes_total", "Job-state table writes sent to its changelog, by kind", ["kind"]
)  # put | delete
EXPIRIES = Counter(
    "jobstream_expiries_published_total", "Expiry commands published for jobs past their timeout"
)
RETRIES = Counter(
    "jobstream_retries_published_total", "Retry commands published for failed attempts whose backoff ended"
)
HEARTBEAT_TIMEOUTS = Counter(
    "jobstream_heartbeat_timeouts_published_total",
    "Heartbeat-timeout failures published for running jobs whose runner went silent",
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
PURGED_ROWS = Counter(
    "jobstream_purged_rows_total", "Rows of deleted jobs' history removed (events, messages, rejections)"
)
BATCH_RETRIES = Counter("jobstream_batch_retries_total", "Batches retried, by cause", ["cause"])
CONSUMER_LAG = Gauge(
    "jobstream_consumer_lag",
    "Commands on this worker's partitions it has not fetched yet (high watermark - position), by partition",
    ["partition"],
)
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
