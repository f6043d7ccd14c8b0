"""docs/contract.md §9 run statistics: counts and duration percentiles of the jobs a filter selects."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Double, extract, func, select
from sqlalchemy.dialects.postgresql import ARRAY, array
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.exceptions import QueryTooSlow
from storage.queries.filters import JobFilter, job_duration
from storage.tables import jobs

PERCENTILES = (0.5, 0.9, 0.99)


@dataclass(frozen=True)
class Percentiles:
    """Over the jobs that have the value; all None when none has it."""

    count: int
    p50: float | None
    p90: float | None
    p99: float | None


@dataclass(frozen=True)
class JobStats:
    total: int
    by_status: dict[str, int]
    by_job_type: dict[str, int]
    by_stop_reason: dict[str, int]  # jobs without a stop reason are not counted here
    duration_s: Percentiles  # completed_at - created_at, in seconds: finished jobs
    total_duration_ns: Percentiles  # as recorded by transitions (`total_duration_ns`)


async def job_stats(engine: AsyncEngine, organization_id: str, filters: JobFilter) -> JobStats:
    """Both statements read one snapshot (REPEATABLE READ), so the counts and percentiles agree."""
    where = [jobs.c.organization_id == organization_id, *filters.clauses()]
    # At most statuses x job types x stop reasons groups (a few hundred): summed per dimension below.
    groups = (
        select(jobs.c.status, jobs.c.job_type, jobs.c.stop_reason, func.count())
        .where(*where)
        .group_by(jobs.c.status, jobs.c.job_type, jobs.c.stop_reason)
    )
    seconds = extract("epoch", job_duration)
    nanoseconds = jobs.c.total_duration_ns.cast(Double)
    spread = select(
        func.count(seconds), _percentiles(seconds), func.count(nanoseconds), _percentiles(nanoseconds)
    ).where(*where)
    try:
        async with engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="REPEATABLE READ")
            async with connection.begin():
                counted = (await connection.execute(groups)).all()
                spread_row = (await connection.execute(spread)).one()
    except DBAPIError as exc:
        # Unlike a page, statistics read every job they count: too many for the statement timeout.
        if getattr(exc.orig, "sqlstate", None) == QueryTooSlow.SQLSTATE:
            raise QueryTooSlow(
                f"counting these jobs took longer than the statement timeout ({exc.orig})"
            ) from exc
        raise
    by: tuple[Counter[str], Counter[str], Counter[str]] = (Counter(), Counter(), Counter())
    for status, job_type, stop_reason, count in counted:
        by[0][status] += count
        by[1][job_type] += count
        if stop_reason is not None:
            by[2][stop_reason] += count
    return JobStats(
        total=sum(by[0].values()),
        by_status=dict(by[0]),
        by_job_type=dict(by[1]),
        by_stop_reason=dict(by[2]),
        duration_s=_spread(spread_row[0], spread_row[1]),
        total_duration_ns=_spread(spread_row[2], spread_row[3]),
    )


def _percentiles(value: ColumnElement[Any]) -> ColumnElement[Any]:
    """percentile_cont: interpolated, over the non-null values only."""
    return func.percentile_cont(array(PERCENTILES), type_=ARRAY(Double)).within_group(value)


def _spread(count: int, values: list[float] | None) -> Percentiles:
    if not count or values is None:
        return Percentiles(0, None, None, None)
    p50, p90, p99 = (float(v) for v in values)
    return Percentiles(count, p50, p90, p99)
