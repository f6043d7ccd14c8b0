"""docs/contract.md §9 reads: jobs by filters and keyset cursors, one job, its events and its messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.tables import job_events, job_messages, jobs

MAX_LIMIT = 1000
DEFAULT_LIMIT = 50


class CursorError(ValueError):
    """A `before`/`after` cursor that names no visible job, or a window that cannot hold any job."""


@dataclass(frozen=True)
class JobFilter:
    """The docs/contract.md §9 filters; empty sequences and None mean "any"."""

    statuses: Sequence[str] = ()
    job_type: str | None = None
    agent_ids: Sequence[str] = ()
    stop_reason: str | None = None
    background: bool | None = None
    batch_id: str | None = None
    organization_id: str | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        wanted: list[ColumnElement[bool]] = []
        if self.statuses:
            wanted.append(jobs.c.status.in_(list(self.statuses)))
        if self.job_type is not None:
            wanted.append(jobs.c.job_type == self.job_type)
        if self.agent_ids:
            wanted.append(jobs.c.agent_id.in_(list(self.agent_ids)))
        if self.stop_reason is not None:
            wanted.append(jobs.c.stop_reason == self.stop_reason)
        if self.background is not None:
            wanted.append(jobs.c.background.is_(self.background))
        if self.batch_id is not None:
            wanted.append(jobs.c.batch_id == self.batch_id)
        if self.organization_id is not None:
            # Only ever narrows: the caller's scope is applied separately, so another org's id
            # here selects nothing rather than widening the view.
            wanted.append(jobs.c.organization_id == self.organization_id)
        return wanted


@dataclass(frozen=True)
class PageRequest:
    before: str | None = None
    after: str | None = None
    limit: int = DEFAULT_LIMIT
    ascending: bool = True


@dataclass(frozen=True)
class JobPage:
    jobs: list[dict[str, Any]] = field(default_factory=list)
    next_cursor: str | None = None


_position = tuple_(jobs.c.created_at, jobs.c.id)  # the listing's order and the cursors' meaning


async def list_jobs(
    engine: AsyncEngine, organization_id: str, filters: JobFilter, page: PageRequest
) -> JobPage:
    """One page in (created_at, id) order; `next_cursor` is the last job's id when more follow.

    Cursors are resolved to their (created_at, id) within the caller's organization, so another
    organization's job id is as unknown as a made-up one and leaks nothing.
    """
    if not 1 <= page.limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    async with engine.connect() as connection:
        keys = await _cursor_keys(connection, organization_id, [page.before, page.after])
        query = _window(organization_id, filters, page, keys)
        rows = (await connection.execute(query)).mappings().all()
    more = len(rows) > page.limit
    shown = [_job(row) for row in rows[: page.limit]]
    return JobPage(shown, shown[-1]["id"] if more else None)


async def get_job(engine: AsyncEngine, organization_id: str, job_id: str) -> dict[str, Any] | None:
    query = select(jobs).where(jobs.c.id == job_id, jobs.c.organization_id == organization_id)
    async with engine.connect() as connection:
        row = (await connection.execute(query)).mappings().first()
    return _job(row) if row is not None else None


async def job_events_of(engine: AsyncEngine, job_id: str, after_seq: int, limit: int) -> list[dict[str, Any]]:
    """The per-job log by seq: the stored payload is exactly what went out on `jobs.events`."""
    query = (
        select(job_events.c.payload)
        .where(job_events.c.job_id == job_id, job_events.c.seq > after_seq)
        .order_by(job_events.c.seq)
        .limit(limit)
    )
    async with engine.connect() as connection:
        return list((await connection.execute(query)).scalars())


async def job_messages_of(engine: AsyncEngine, job_id: str) -> list[dict[str, Any]]:
    query = (
        select(job_messages.c.message_id, job_messages.c.created_at)
        .where(job_messages.c.job_id == job_id)
        .order_by(job_messages.c.created_at, job_messages.c.message_id)
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).mappings().all()
    return [{"message_id": r["message_id"], "created_at": r["created_at"].isoformat()} for r in rows]


async def _cursor_keys(
    connection: AsyncConnection, organization_id: str, cursors: list[str | None]
) -> dict[str, tuple[datetime, str]]:
    named = [c for c in cursors if c is not None]
    if not named:
        return {}
    query = select(jobs.c.id, jobs.c.created_at).where(
        jobs.c.id.in_(named), jobs.c.organization_id == organization_id
    )
    found = {row.id: (row.created_at, row.id) for row in await connection.execute(query)}
    for cursor in named:
        if cursor not in found:
            raise CursorError(f"unknown cursor {cursor!r}: no job with that id in your organization")
    return found


def _window(
    organization_id: str, filters: JobFilter, page: PageRequest, keys: dict[str, tuple[datetime, str]]
) -> Select[Any]:
    bounds: list[ColumnElement[bool]] = []
    if page.before is not None:
        bounds.append(_position < tuple_(*keys[page.before]))
    if page.after is not None:
        bounds.append(_position > tuple_(*keys[page.after]))
    if page.before is not None and page.after is not None and keys[page.before] <= keys[page.after]:
        raise CursorError(f"before {page.before!r} is not newer than after {page.after!r}")
    order = (
        (jobs.c.created_at.asc(), jobs.c.id.asc())
        if page.ascending
        else (jobs.c.created_at.desc(), jobs.c.id.desc())
    )
    return (
        select(jobs)
        .where(and_(jobs.c.organization_id == organization_id, *filters.clauses(), *bounds))
        .order_by(*order)
        .limit(page.limit + 1)  # one extra row says whether a next page exists
    )


def _job(row: Any) -> dict[str, Any]:
    """A jobs row as the API shows it: every column, times as RFC 3339."""
    return {
        name: value.isoformat() if isinstance(value, datetime) else value for name, value in dict(row).items()
    }
