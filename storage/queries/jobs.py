"""docs/contract.md §9 reads: jobs by filters and keyset cursors, and one job."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.queries.keyset import Keyset, PageRequest, read_page
from storage.tables import jobs


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
class JobPage:
    jobs: list[dict[str, Any]] = field(default_factory=list)
    next_cursor: str | None = None


# The listing's order and the cursors' meaning: (created_at, id) within the caller's organization.
JOBS = Keyset(jobs.c.id, (jobs.c.created_at, jobs.c.id), "no job with that id in your organization")


async def list_jobs(
    engine: AsyncEngine, organization_id: str, filters: JobFilter, page: PageRequest
) -> JobPage:
    """One page in (created_at, id) order; `next_cursor` is the last job's id when more follow."""
    scope = [jobs.c.organization_id == organization_id]
    async with engine.connect() as connection:
        found = await read_page(connection, JOBS, [jobs], scope, filters.clauses(), page)
    return JobPage([_job(row) for row in found.rows], found.next_cursor)


async def get_job(engine: AsyncEngine, organization_id: str, job_id: str) -> dict[str, Any] | None:
    query = select(jobs).where(jobs.c.id == job_id, jobs.c.organization_id == organization_id)
    async with engine.connect() as connection:
        row = (await connection.execute(query)).mappings().first()
    return _job(row) if row is not None else None


def _job(row: Any) -> dict[str, Any]:
    """A jobs row as the API shows it: every column, times as RFC 3339."""
    return {
        name: value.isoformat() if isinstance(value, datetime) else value for name, value in dict(row).items()
    }
