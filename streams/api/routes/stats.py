"""`GET /stats`: run statistics of the jobs a filter selects (docs/contract.md §9)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status

from storage.exceptions import QueryTooSlow
from storage.queries import stats as queries
from storage.queries.filters import JobFilter
from streams.api.auth import Organization
from streams.api.filters import METADATA_HELP, stats_filter
from streams.api.models import JobStats, Problem
from streams.api.state import State

router = APIRouter(tags=["jobs"])


@router.get(
    "/stats",
    response_model=JobStats,
    responses={
        503: {"model": Problem, "description": "Too many jobs to count within the statement timeout."}
    },
    description="Counts by status, job type and stop reason, and duration percentiles, of your"
    " organization's jobs that `GET /jobs`' filters and the time window select. " + METADATA_HELP,
)
async def job_stats(
    state: State, organization: Organization, filters: Annotated[JobFilter, Depends(stats_filter)]
) -> dict[str, Any]:
    try:
        return asdict(await queries.job_stats(state.engine, organization, filters))
    except QueryTooSlow as exc:
        detail = {
            "code": "too_slow",
            "message": f"{exc}; narrow the filters or the created_after/_before window",
        }
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail) from exc
