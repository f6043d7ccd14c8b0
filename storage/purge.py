"""Removing a deleted job's history (rule 14) in bounded steps: each statement deletes at most `step`
rows of a table, so a job with millions of events is purged over many short statements instead of one
that would outlast the statement timeout (and be retried for ever)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import raw_connection

# What a purge removes, each table by its job index, at most $2 rows a statement; the tombstone event
# stays (rule 14).
STEPS = tuple(
    f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("
    f"SELECT ctid FROM {table} WHERE job_id = $1 {condition} LIMIT $2))"
    for table, condition in (
        ("job_events", "AND type <> 'job.deleted'"),
        ("job_messages", ""),
        ("job_rejections", ""),
    )
)
PENDING = "SELECT job_id FROM job_purges ORDER BY requested_at, job_id LIMIT $1"
FINISH = "DELETE FROM job_purges WHERE job_id = $1"


@dataclass(frozen=True, slots=True)
class PurgeStep:
    job_id: str
    removed: int  # rows removed by this step, all tables
    finished: bool  # nothing of the job's history is left; it is off the queue


async def pending_purges(engine: AsyncEngine, limit: int) -> list[str]:
    """Deleted jobs whose history is still there, oldest deletion first."""
    async with raw_connection(engine) as pg:
        return [row["job_id"] for row in await pg.fetch(PENDING, limit)]


async def purge_step(engine: AsyncEngine, job_id: str, step: int) -> PurgeStep:
    """Remove up to `step` rows of each history table of one deleted job; when every table had fewer,
    the job leaves the queue."""
    removed = 0
    finished = True
    async with raw_connection(engine) as pg:
        for statement in STEPS:
            status = await pg.execute(statement, job_id, step)
            count = int(status.rsplit(" ", 1)[-1])
            removed += count
            finished = finished and count < step
        if finished:
            await pg.execute(FINISH, job_id)
    return PurgeStep(job_id, removed, finished)
