"""The service's own timers, through the ordinary command path: rule 10 (a job past its timeout is expired),
rule 15 (a failed attempt whose backoff has ended is re-pended) and rule 16 (a running job whose heartbeat
lapsed is failed, or retried under its policy). All their state is in Postgres (`expires_at`, `retry_at`,
`heartbeat_expires_at`, each with a partial index), so a timer survives a worker's kill -9 and a rebalance:
whichever worker scans next publishes what is due. Every command id is deterministic, so two workers (or
two ticks) publishing the same one yield one event and duplicates (rule 7)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.retries import heartbeat_timeout_command_id, retry_command_id
from storage.queries.expiry import due_for_expiry, due_for_retry, heartbeat_lapsed
from streams import metrics
from streams.kafka.producer import json_record
from streams.kafka.runtime import Runtime
from streams.settings import Settings

log = structlog.get_logger(__name__)
# Re-publishing a due job before its command is processed is harmless (a duplicate), just noisy.
REPUBLISH_AFTER_S = 30.0
SCAN_LIMIT = 1000


def expiry_command(job_id: str) -> dict[str, str]:
    """Deterministic command id: a repeated expiry is a duplicate (rule 7), never a second event."""
    return {
        "command_id": f"expire:{job_id}",
        "type": "transition",
        "job_id": job_id,
        "status": "expired",
        "stop_reason": "timeout_exceeded",
    }


def retry_command(job_id: str, attempt: int) -> dict[str, Any]:
    """Rule 15: failed attempt `attempt` has waited out its backoff; the job goes back to pending."""
    return {
        "command_id": retry_command_id(job_id, attempt),
        "type": "retry",
        "job_id": job_id,
        "attempt": attempt,
    }


def heartbeat_timeout_command(job_id: str, attempt: int, deadline: datetime) -> dict[str, Any]:
    """Rule 16: a failure like a runner's own, so the job's retry policy decides what follows; it names
    the deadline seen here, so a heartbeat that moved it meanwhile makes it stale (rejected)."""
    return {
        "command_id": heartbeat_timeout_command_id(job_id, attempt, deadline),
        "type": "heartbeat_timeout",
        "job_id": job_id,
        "deadline": deadline.isoformat(),
    }


@dataclass(frozen=True, slots=True)
class Scan:
    """One timer: what is due (each row's first field the job id) and the command that settles it."""

    name: str
    due: Callable[[AsyncEngine, datetime, int], Awaitable[Sequence[Any]]]
    command: Callable[..., dict[str, Any]]
    counter: Any

    def build(self, row: Any) -> tuple[str, dict[str, Any]]:
        fields = row if isinstance(row, tuple) else (row,)
        return fields[0], self.command(*fields)


SCANS = (
    Scan("expiry", due_for_expiry, expiry_command, metrics.EXPIRIES),
    Scan("retry", due_for_retry, retry_command, metrics.RETRIES),
    Scan("heartbeat", heartbeat_lapsed, heartbeat_timeout_command, metrics.HEARTBEAT_TIMEOUTS),
)


def register(app: faust.App, runtime: Runtime, settings: Settings) -> None:
    recently: dict[Hashable, float] = {}

    @app.timer(settings.expiry_interval_s, name="jobstream.expiry")
    async def publish_due_commands() -> None:
        # A timer that raises crashes the whole worker (Faust treats it as a failed task): a Postgres
        # or Kafka blip only skips this tick.
        try:
            await runtime.start()
            for scan in SCANS:
                await _publish_due(runtime, settings, scan, recently)
        except Exception as exc:
            log.warning("expiry.tick_failed", error=f"{type(exc).__name__}: {exc}", hint="retried next tick")


async def _publish_due(
    runtime: Runtime, settings: Settings, scan: Scan, recently: dict[Hashable, float]
) -> None:
    now = time.monotonic()
    for key, published in list(recently.items()):
        if now - published > REPUBLISH_AFTER_S:
            del recently[key]
    due = await scan.due(runtime.engine, datetime.now(UTC), SCAN_LIMIT)
    fresh = [row for row in due if (scan.name, row) not in recently]
    if not fresh:
        return
    built = [scan.build(row) for row in fresh]
    await runtime.producer.send_all(
        json_record(settings.topics.commands, job_id, command) for job_id, command in built
    )
    scan.counter.inc(len(fresh))
    for row in fresh:
        recently[(scan.name, row)] = now
    log.info(f"{scan.name}.published", jobs=len(fresh))
