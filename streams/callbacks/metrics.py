"""Prometheus metrics of callback delivery, served at /metrics with the command path's."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SCHEDULED = Counter("jobstream_callbacks_scheduled_total", "Callback deliveries queued from terminal events")
ATTEMPTS = Counter(
    "jobstream_callback_attempts_total", "Callback attempts, by what was decided", ["decision"]
)  # delivered | retry | gave_up | endpoint_disabled
ATTEMPT_SECONDS = Histogram(
    "jobstream_callback_attempt_seconds",
    "Duration of one callback attempt (resolution, connect, response headers)",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
IN_FLIGHT = Gauge("jobstream_callbacks_in_flight", "Callback attempts currently in progress")
UNSETTLED = Counter(
    "jobstream_callback_unsettled_total",
    "Attempts whose outcome could not be stored (retried after the lease)",
)
# The circuit breaker (docs/contract.md §7): endpoints per state, never per host (hosts are tenant input,
# unbounded); the gauge is the deployment's table as one dispatcher last counted it.
ENDPOINTS = Gauge(
    "jobstream_callback_endpoints",
    "Callback endpoints with failures on record, by breaker state (closed = failing, not yet open)",
    ["state"],
)
BREAKER_TRANSITIONS = Counter(
    "jobstream_callback_breaker_transitions_total",
    "Breaker transitions this process caused",
    ["to"],
)  # open | closed | disabled
BREAKER_DECISIONS = Counter(
    "jobstream_callback_breaker_decisions_total",
    "Claimed deliveries to a tripped endpoint, by what the breaker decided",
    ["decision"],
)  # probe | deferred | endpoint_disabled
