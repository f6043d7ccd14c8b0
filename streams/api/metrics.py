"""The API process's own Prometheus registry: what the API does and sees, never the worker's counters
(those live in each worker process and are served on its JOBSTREAM_METRICS_PORT)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

COMMANDS = Counter(
    "jobstream_api_commands_total",
    "Commands submitted over HTTP, by outcome: accepted (durable on Kafka), refused (4xx), unavailable (503)",
    ["outcome"],
    registry=REGISTRY,
)
GROUP_LAG = Gauge(
    "jobstream_commands_group_lag",
    "Commands the worker group has not committed yet (end offset - committed offset), by partition",
    ["partition"],
    registry=REGISTRY,
)
