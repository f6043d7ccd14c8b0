"""The scans behind the service's own timers: rule 10 (timeouts), rule 15 (backoffs that ended) and rule 16
(heartbeats that lapsed). Each reads a partial index of the jobs that can still fire, oldest first."""

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


def retry_due_query(now: datetime, limit: int) -> Select[Any]:
    """(job id, failed attempt) of jobs whose backoff has ended (rule 15), on `ix_jobs_retry_due`."""
    return (
        select(jobs.c.id, jobs.c.attempt)
        .where(jobs.c.retry_at.is_not(None), jobs.c.completed_at.is_(None), jobs.c.retry_at <= now)
        .order_by(jobs.c.retry_at)
        .limit(limit)
    )


def heartbeat_due_query(now: datetime, limit: int) -> Select[Any]:
    """(job id, attempt, deadline) of running jobs whose heartbeat deadline has passed (rule 16), on
    `ix_jobs_heartbeat_due`."""
    deadline = jobs.c.heartbeat_expires_at
    return (
        select(jobs.c.id, jobs.c.attempt, deadline)
        .where(deadline.is_not(None), jobs.c.completed_at.is_(None), deadline <= now)
        .order_by(deadline)
        .limit(limit)
    )


async def due_for_expiry(engine: AsyncEngine, now: datetime, limit: int) -> list[str]:
    async with engine.connect() as connection:
        return list((await connection.execute(due_query(now, limit))).scalars())


async def due_for_retry(engine: AsyncEngine, now: datetime, limit: int) -> list[tuple[str, int]]:
    async with engine.connect() as connection:
        return [(row.id, row.attempt) for row in await connection.execute(retry_due_query(now, limit))]


async def heartbeat_lapsed(engine: AsyncEngine, now: datetime, limit: int) -> list[tuple[str, int, datetime]]:
    async with engine.connect() as connection:
        rows = await connection.execute(heartbeat_due_query(now, limit))
        return [(row.id, row.attempt, row.heartbeat_expires_at) for row in rows]
