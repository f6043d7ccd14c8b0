"""The scan behind rule 10: non-terminal jobs whose timeout has passed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.tables import jobs


def due_query(now: datetime, limit: int) -> Select[Any]:
    """Oldest deadline first, on the partial index of jobs with a deadline that are not terminal."""
    return (
        select(jobs.c.id)
        .where(jobs.c.expires_at.is_not(None), jobs.c.completed_at.is_(None), jobs.c.expires_at <= now)
        .order_by(jobs.c.expires_at)
        .limit(limit)
    )


async def due_for_expiry(engine: AsyncEngine, now: datetime, limit: int) -> list[str]:
    async with engine.connect() as connection:
        return list((await connection.execute(due_query(now, limit))).scalars())
