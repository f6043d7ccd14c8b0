"""The scans behind the service's own timers: rule 10 (timeouts), rule 15 (backoffs that ended) and rule 16
(heartbeats that lapsed). Each reads a partial index of the jobs that can still fire."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.tables import jobs


async def due_for_expiry(engine: AsyncEngine, now: datetime, limit: int) -> list[str]:
    query = (
        select(jobs.c.id)
        .where(jobs.c.expires_at.is_not(None), jobs.c.completed_at.is_(None), jobs.c.expires_at <= now)
        .order_by(jobs.c.expires_at)
        .limit(limit)
    )
    async with engine.connect() as connection:
        return list((await connection.execute(query)).scalars())


async def due_for_retry(engine: AsyncEngine, now: datetime, limit: int) -> list[tuple[str, int]]:
    """(job id, failed attempt) of jobs whose backoff has ended (rule 15)."""
    query = (
        select(jobs.c.id, jobs.c.attempt)
        .where(jobs.c.retry_at.is_not(None), jobs.c.completed_at.is_(None), jobs.c.retry_at <= now)
        .order_by(jobs.c.retry_at)
        .limit(limit)
    )
    async with engine.connect() as connection:
        return [(row.id, row.attempt) for row in await connection.execute(query)]


async def heartbeat_lapsed(engine: AsyncEngine, now: datetime, limit: int) -> list[tuple[str, int, datetime]]:
    """(job id, attempt, deadline) of running jobs whose heartbeat deadline has passed (rule 16)."""
    column = jobs.c.heartbeat_expires_at
    query = (
        select(jobs.c.id, jobs.c.attempt, column)
        .where(column.is_not(None), jobs.c.completed_at.is_(None), column <= now)
        .order_by(column)
        .limit(limit)
    )
    async with engine.connect() as connection:
        return [(row.id, row.attempt, row.heartbeat_expires_at) for row in await connection.execute(query)]
