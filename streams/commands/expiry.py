"""Rule 10: jobs past their timeout are expired through the ordinary command path."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import faust
import structlog

from storage.queries.expiry import due_for_expiry
from streams import metrics
from streams.kafka.producer import json_record
from streams.kafka.runtime import Runtime
from streams.settings import Settings

log = structlog.get_logger(__name__)
# Re-publishing a due job before its expiry is processed is harmless (a duplicate), just noisy.
REPUBLISH_AFTER_S = 30.0


def expiry_command(job_id: str) -> dict[str, str]:
    """Deterministic command id: a repeated expiry is a duplicate (rule 7), never a second event."""
    return {
        "command_id": f"expire:{job_id}",
        "type": "transition",
        "job_id": job_id,
        "status": "expired",
        "stop_reason": "timeout_exceeded",
    }


def register(app: faust.App, runtime: Runtime, settings: Settings) -> None:
    recently: dict[str, float] = {}

    @app.timer(settings.expiry_interval_s, name="jobstream.expiry")
    async def expire_due_jobs() -> None:
        # A timer that raises crashes the whole worker (Faust treats it as a failed task): a Postgres
        # or Kafka blip only skips this tick.
        try:
            await _publish_due(runtime, settings, recently)
        except Exception as exc:
            log.warning("expiry.tick_failed", error=f"{type(exc).__name__}: {exc}", hint="retried next tick")


async def _publish_due(runtime: Runtime, settings: Settings, recently: dict[str, float]) -> None:
    await runtime.start()
    now = time.monotonic()
    for job_id, published in list(recently.items()):
        if now - published > REPUBLISH_AFTER_S:
            del recently[job_id]
    due = await due_for_expiry(runtime.engine, datetime.now(UTC), limit=1000)
    fresh = [job_id for job_id in due if job_id not in recently]
    if not fresh:
        return
    await runtime.producer.send_all(
        json_record(settings.topics.commands, job_id, expiry_command(job_id)) for job_id in fresh
    )
    metrics.EXPIRIES.inc(len(fresh))
    for job_id in fresh:
        recently[job_id] = now
    log.info("expiry.published", jobs=len(fresh))
