"""`GET /stats`: run statistics of the jobs a filter selects (docs/contract.md §9)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from storage.queries import stats as queries
from storage.queries.filters import JobFilter
from streams.api.auth import Organization
from streams.api.filters import METADATA_HELP, stats_filter
from streams.api.models import JobStats
from streams.api.state import State

router = APIRouter(tags=["jobs"])


@router.get(
    "/stats",
    response_model=JobStats,
    description="Counts by status, job type and stop reason, and duration percentiles, of your"
    " organization's jobs that `GET /jobs`' filters and the time window select. " + METADATA_HELP,
)
async def job_stats(
    state: State, organization: Organization, filters: Annotated[JobFilter, Depends(stats_filter)]
) -> dict[str, Any]:
    return asdict(await queries.job_stats(state.engine, organization, filters))
