"""The leader's sweeper of deleted jobs' history (rule 14, storage/purge.py): a little every second, so
a huge history is removed without one long statement and without holding up any partition's commands."""

from __future__ import annotations

import faust
import structlog

from storage.purge import pending_purges, purge_step
from streams import metrics
from streams.kafka.runtime import Runtime

log = structlog.get_logger(__name__)
INTERVAL_S = 1.0
STEP = 5_000  # rows per table per statement
TICK_BUDGET = 50_000  # rows one tick removes at most; the rest waits for the next tick
JOBS_PER_TICK = 10


async def sweep(runtime: Runtime, budget: int = TICK_BUDGET, step: int = STEP) -> int:
    """Purge queued jobs, oldest deletion first, until the budget of rows is spent; rows removed."""
    removed = 0
    for job_id in await pending_purges(runtime.engine, JOBS_PER_TICK):
        while removed < budget:
            done = await purge_step(runtime.engine, job_id, step)
            removed += done.removed
            metrics.PURGED_ROWS.inc(done.removed)
            if done.finished:
                log.info("purge.finished", job_id=job_id)
                break
        if removed >= budget:
            break
    return removed


def register(app: faust.App, runtime: Runtime) -> None:
    # One worker at a time (Faust's leader): the work is shared by no partition.
    @app.timer(INTERVAL_S, name="jobstream.purge", on_leader=True)
    async def purge_deleted_jobs() -> None:
        # A timer that raises crashes the worker (Faust treats it as a failed task): a blip skips a tick.
        try:
            await runtime.start()
            await sweep(runtime)
        except Exception as exc:
            log.warning("purge.tick_failed", error=f"{type(exc).__name__}: {exc}", hint="retried next tick")
