"""The scan behind retention (rule 14): terminal jobs finished before a cutoff, oldest first, in pages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.tables import jobs

Position = tuple[datetime, str]  # (completed_at, id) of the last job of the previous page


def finished_query(
    cutoff: datetime, limit: int, after: Position | None = None
) -> Select[tuple[str, datetime]]:
    """On the partial index of terminal jobs (completed_at, id)."""
    query = (
        select(jobs.c.id, jobs.c.completed_at)
        .where(jobs.c.completed_at.is_not(None), jobs.c.completed_at < cutoff)
        .order_by(jobs.c.completed_at, jobs.c.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(jobs.c.completed_at, jobs.c.id) > tuple_(*after))
    return query


async def finished_before(
    engine: AsyncEngine, cutoff: datetime, limit: int, after: Position | None = None
) -> list[tuple[str, Position]]:
    """Up to `limit` jobs whose `completed_at` (set exactly while terminal, rule 5) is before `cutoff`,
    after `after` in (completed_at, id) order; each with its position, to continue from."""
    async with engine.connect() as connection:
        rows = (await connection.execute(finished_query(cutoff, limit, after))).all()
    return [(row.id, (row.completed_at, row.id)) for row in rows]
