"""docs/contract.md §9 reads: one job's events and messages, paged by the listings' keyset cursors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.queries.keyset import Keyset, PageRequest, read_page
from storage.tables import job_events, job_messages, job_rejections

# An event is named by its event_id ("{job_id}:{seq}"), a message by its message_id: the ids users see.
EVENTS = Keyset(job_events.c.event_id, (job_events.c.seq,), "no event with that event_id on this job")
MESSAGES = Keyset(
    job_messages.c.message_id,
    (job_messages.c.created_at, job_messages.c.message_id),
    "no message with that message_id on this job",
)
MAX_REJECTIONS = 100  # the most recent shown beside a timeline; the full record is jobs.events


@dataclass(frozen=True)
class HistoryPage:
    items: list[dict[str, Any]]
    next_cursor: str | None


async def job_events_page(
    engine: AsyncEngine, job_id: str, page: PageRequest, after_seq: int = 0
) -> HistoryPage:
    """The per-job log by seq; each stored payload is the very document that went out on `jobs.events`."""
    filters: list[ColumnElement[bool]] = [job_events.c.seq > after_seq] if after_seq else []
    columns = [job_events.c.event_id, job_events.c.payload]
    async with engine.connect() as connection:
        found = await read_page(connection, EVENTS, columns, [job_events.c.job_id == job_id], filters, page)
    return HistoryPage([row[job_events.c.payload] for row in found.rows], found.next_cursor)


async def job_messages_page(engine: AsyncEngine, job_id: str, page: PageRequest) -> HistoryPage:
    """The job's message ids by (created_at, message_id): when each was attached, ties by id."""
    columns = [job_messages.c.message_id, job_messages.c.created_at]
    async with engine.connect() as connection:
        found = await read_page(connection, MESSAGES, columns, [job_messages.c.job_id == job_id], [], page)
    messages = [
        {
            "message_id": row[job_messages.c.message_id],
            "created_at": row[job_messages.c.created_at].isoformat(),
        }
        for row in found.rows
    ]
    return HistoryPage(messages, found.next_cursor)


async def recent_rejections(
    engine: AsyncEngine, job_id: str, limit: int = MAX_REJECTIONS
) -> list[dict[str, Any]]:
    """The latest rejected commands, oldest first: each the `job.command_rejected` event as published."""
    query = (
        select(job_rejections.c.payload)
        .where(job_rejections.c.job_id == job_id)
        .order_by(job_rejections.c.occurred_at.desc(), job_rejections.c.command_id.desc())
        .limit(limit)
    )
    async with engine.connect() as connection:
        payloads = [row[0] for row in await connection.execute(query)]
    return payloads[::-1]
