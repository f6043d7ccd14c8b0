"""docs/contract.md §9 reads: jobs by filters and keyset cursors, and one job (a job's events and messages
are storage/queries/job_history.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Select, select, tuple_, union_all
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from schemas.vocabulary import ListOrder as Order
from storage.queries import keyset
from storage.queries.filters import JobFilter, job_duration
from storage.queries.keyset import MAX_LIMIT, CursorError
from storage.tables import jobs

# Up to this many `agent_id`s, a page is the merge of one index walk per agent (each reading at most a
# page), instead of every job of those agents sorted: an agent with 100,000 runs costs a page too.
MAX_MERGED_AGENTS = 10


@dataclass(frozen=True)
class PageRequest(keyset.PageRequest):
    """The job listing's page: any listing's, in either of its orders. Its statement is its own (one
    round trip, cursors resolved inside it, agents merged), not `keyset.read_page`'s."""

    order_by: Order = Order.CREATED_AT


@dataclass(frozen=True)
class JobPage:
    jobs: list[dict[str, Any]] = field(default_factory=list)
    next_cursor: str | None = None


Key = tuple[datetime | timedelta, str]  # a job's place in the listing's order: (created_at or duration, id)


def sort_key(table: FromClause, order: Order) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """The listing's order and the cursors' meaning, on `jobs` or on a subquery of its columns."""
    first = table.c.created_at if order is Order.CREATED_AT else table.c.completed_at - table.c.created_at
    return first, table.c.id


async def list_jobs(
    engine: AsyncEngine, organization_id: str, filters: JobFilter, page: PageRequest
) -> JobPage:
    """One page in (created_at, id) or (duration, id) order; `next_cursor` is the last job's id when more
    follow.

    Cursors are resolved to their place in that order within the caller's organization, so another
    organization's job id is as unknown as a made-up one and leaks nothing.
    """
    if not 1 <= page.limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    async with engine.connect() as connection:
        rows = (await connection.execute(page_query(organization_id, filters, page))).mappings().all()
        if not rows and (page.before is not None or page.after is not None):
            # One round trip per page: a cursor is resolved inside the page's statement, and only an
            # empty page asks why (an unknown cursor, or a window that cannot hold a job, is a 422).
            await check_cursors(connection, organization_id, page)
    more = len(rows) > page.limit
    shown = [_job(row) for row in rows[: page.limit]]
    return JobPage(shown, shown[-1]["id"] if more else None)


async def get_job(engine: AsyncEngine, organization_id: str, job_id: str) -> dict[str, Any] | None:
    query = select(jobs).where(jobs.c.id == job_id, jobs.c.organization_id == organization_id)
    async with engine.connect() as connection:
        row = (await connection.execute(query)).mappings().first()
    return _job(row) if row is not None else None


async def check_cursors(connection: AsyncConnection, organization_id: str, page: PageRequest) -> None:
    """Raise CursorError for a cursor that names no visible job (with a place in the page's order), or a
    `before` that is not past `after`."""
    query = cursor_query(organization_id, page)
    if query is None:
        return
    found: dict[str, Key] = {row[0]: (row[1], row[0]) for row in await connection.execute(query)}
    for cursor in (page.before, page.after):
        if cursor is not None and cursor not in found:
            only = (
                " (order_by=duration pages through finished jobs only)"
                if page.order_by is Order.DURATION
                else ""
            )
            raise CursorError(f"unknown cursor {cursor!r}: no job with that id in your organization{only}")
    if page.before is not None and page.after is not None and found[page.before] <= found[page.after]:
        raise CursorError(f"before {page.before!r} is not newer than after {page.after!r}")


def cursor_query(organization_id: str, page: PageRequest) -> Select[Any] | None:
    """(id, first sort key) of the page's cursors, or None without cursors."""
    named = [c for c in (page.before, page.after) if c is not None]
    if not named:
        return None
    first, _ = sort_key(jobs, page.order_by)
    query = select(jobs.c.id, first).where(jobs.c.id.in_(named), jobs.c.organization_id == organization_id)
    return query.where(job_duration.is_not(None)) if page.order_by is Order.DURATION else query


def page_query(organization_id: str, filters: JobFilter, page: PageRequest) -> Select[Any]:
    """The page's statement (and one extra row, which says whether a next page exists).

    A cursor is its place in the order, looked up by primary key inside the statement (an InitPlan the
    index condition then uses); a cursor that is not visible makes that place null and the page empty.
    """
    position = tuple_(*sort_key(jobs, page.order_by))
    where: list[ColumnElement[bool]] = [jobs.c.organization_id == organization_id, *filters.clauses()]
    if page.order_by is Order.DURATION:
        where.append(job_duration.is_not(None))
    if page.before is not None:
        where.append(position < _place(organization_id, page.order_by, page.before))
    if page.after is not None:
        where.append(position > _place(organization_id, page.order_by, page.after))
    distinct = tuple(dict.fromkeys(filters.agent_ids))  # an agent named twice must not list its jobs twice
    agents = distinct if 1 < len(distinct) <= MAX_MERGED_AGENTS else ()
    if not agents:
        return _ordered(select(jobs).where(*where), jobs, page)
    walks = [_ordered(select(jobs).where(*where, jobs.c.agent_id == agent), jobs, page) for agent in agents]
    merged = union_all(*walks).subquery("merged")
    return _ordered(select(merged), merged, page)


def _place(organization_id: str, order: Order, cursor: str) -> Any:
    """The cursor job's (first sort key, id) as two scalar subqueries: a row the index can compare with."""
    cursor_job = jobs.alias("cursor_job")
    visible = (cursor_job.c.id == cursor, cursor_job.c.organization_id == organization_id)
    return tuple_(*(select(key).where(*visible).scalar_subquery() for key in sort_key(cursor_job, order)))


def _ordered(query: Select[Any], table: FromClause, page: PageRequest) -> Select[Any]:
    keys = sort_key(table, page.order_by)
    return query.order_by(*(k.asc() if page.ascending else k.desc() for k in keys)).limit(page.limit + 1)


def _job(row: Any) -> dict[str, Any]:
    """A jobs row as the API shows it: every column, times as RFC 3339."""
    return {
        name: value.isoformat() if isinstance(value, datetime) else value for name, value in dict(row).items()
    }
