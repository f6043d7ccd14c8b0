"""`GET /jobs…`: list with filters and cursors, one job, its events and its messages (docs/contract.md §9)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status

from schemas.vocabulary import ListOrder
from storage.queries import jobs as queries
from streams.api.auth import Organization
from streams.api.filters import METADATA_HELP, job_filter
from streams.api.models import Job, JobEvents, JobMessages, JobPage, Problem
from streams.api.state import State

router = APIRouter(prefix="/jobs", tags=["jobs"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such job in your organization."}
}


def page_request(
    before: Annotated[str | None, Query(description="A job id: only jobs older than it.")] = None,
    after: Annotated[str | None, Query(description="A job id: only jobs newer than it.")] = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_LIMIT)] = queries.DEFAULT_LIMIT,
    ascending: bool = True,
    order_by: Annotated[
        ListOrder,
        Query(description="`duration` (completed_at - created_at) lists only finished jobs; ties by id."),
    ] = ListOrder.CREATED_AT,
) -> queries.PageRequest:
    return queries.PageRequest(
        before=before, after=after, limit=limit, ascending=ascending, order_by=order_by
    )


@router.get(
    "",
    response_model=JobPage,
    responses={422: {"model": Problem, "description": "Unknown cursor, or before not newer than after."}},
    description="Your organization's jobs in (created_at, id) or (duration, id) order; follow `next_cursor`"
    " for the next page. " + METADATA_HELP,
)
async def list_jobs(
    state: State,
    organization: Organization,
    filters: Annotated[queries.JobFilter, Depends(job_filter)],
    page: Annotated[queries.PageRequest, Depends(page_request)],
) -> dict[str, Any]:
    """Your organization's jobs ordered by (created_at, id) or (duration, id); follow `next_cursor`."""
    try:
        found = await queries.list_jobs(state.engine, organization, filters, page)
    except queries.CursorError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, {"code": "invalid_cursor", "message": str(exc)}
        ) from exc
    return {"jobs": found.jobs, "next_cursor": found.next_cursor}


@router.get("/{job_id}", response_model=Job, responses=NOT_FOUND)
async def get_job(job_id: str, state: State, organization: Organization) -> dict[str, Any]:
    return await _visible_job(state, organization, job_id)


@router.get("/{job_id}/events", response_model=JobEvents, responses=NOT_FOUND)
async def job_events(
    job_id: str,
    state: State,
    organization: Organization,
    after_seq: Annotated[int, Query(ge=0, description="Only events with a greater seq.")] = 0,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_LIMIT)] = queries.MAX_LIMIT,
) -> dict[str, Any]:
    """The job's log by seq; rejected commands change nothing and are only on jobs.events."""
    await _visible_job(state, organization, job_id)
    return {"events": await queries.job_events_of(state.engine, job_id, after_seq, limit)}


@router.get("/{job_id}/messages", response_model=JobMessages, responses=NOT_FOUND)
async def job_messages(job_id: str, state: State, organization: Organization) -> dict[str, Any]:
    await _visible_job(state, organization, job_id)
    return {"messages": await queries.job_messages_of(state.engine, job_id)}


async def _visible_job(state: State, organization: str, job_id: str) -> dict[str, Any]:
    """404 alike for a missing job and another organization's: existence is not disclosed."""
    job = await queries.get_job(state.engine, organization, job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "job not found in your organization")
    return job
