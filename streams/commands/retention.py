"""Retention (docs/contract.md rule 14): terminal jobs past the configured age are deleted through the
ordinary command path, so a deletion is ordered with whatever else the job receives and is idempotent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import faust
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.queries.retention import Position, finished_before
from streams import metrics
from streams.kafka.producer import DurableProducer, json_record
from streams.kafka.runtime import Runtime
from streams.recent import RecentlySeen
from streams.settings import Settings

log = structlog.get_logger(__name__)
PAGE = 1_000  # jobs per query and per send
TICK_LIMIT = 10_000  # the most one tick publishes: a backlog is worked off over several ticks
# Jobs published lately are skipped until their delete has been processed (it then no longer matches).
REMEMBERED = 2 * TICK_LIMIT


def retention_command(job_id: str) -> dict[str, str]:
    """Deterministic command id: a repeated publication is a duplicate (rule 7), never a second event."""
    return {"command_id": f"retention:{job_id}", "type": "delete", "job_id": job_id}


def cutoff(days: float, now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) - timedelta(days=days)


async def publish_deletes(
    engine: AsyncEngine,
    producer: DurableProducer,
    topic: str,
    before: datetime,
    limit: int | None = None,
    seen: RecentlySeen[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Publish a `delete` for jobs finished before `before`, oldest first, a page at a time (at most
    `limit`; jobs in `seen` are skipped); returns how many were published."""
    published = 0
    after: Position | None = None
    while limit is None or published < limit:
        page = await finished_before(
            engine, before, PAGE if limit is None else min(PAGE, limit - published), after
        )
        if not page:
            break
        after = page[-1][1]
        fresh = [job_id for job_id, _ in page if seen is None or seen.add(job_id)]
        await producer.send_all(json_record(topic, job_id, retention_command(job_id)) for job_id in fresh)
        published += len(fresh)
        metrics.RETENTION_DELETES.inc(len(fresh))
        if progress is not None:
            progress(published)
    return published


def register(app: faust.App, runtime: Runtime, settings: Settings) -> None:
    days = settings.retention_days
    if days is None:
        return
    seen: RecentlySeen[str] = RecentlySeen(REMEMBERED)

    # One worker at a time (Faust's leader): every worker publishing the same deletes would only add
    # duplicates.
    @app.timer(settings.retention_interval_s, name="jobstream.retention", on_leader=True)
    async def delete_old_jobs() -> None:
        # A timer that raises crashes the worker (Faust treats it as a failed task): a blip skips a tick.
        try:
            await runtime.start()
            published = await publish_deletes(
                runtime.engine, runtime.producer, settings.topics.commands, cutoff(days), TICK_LIMIT, seen
            )
        except Exception as exc:
            log.warning(
                "retention.tick_failed", error=f"{type(exc).__name__}: {exc}", hint="retried next tick"
            )
            return
        if published:
            log.info("retention.published", jobs=published, older_than_days=days)
