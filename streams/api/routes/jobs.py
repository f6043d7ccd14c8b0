"""`GET /jobs…`: jobs by filters, one job, its events, messages (paged alike, contract §9) and callbacks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from fastapi.responses import JSONResponse

from schemas.bounds import MAX_ID_LENGTH
from schemas.vocabulary import ListOrder
from storage.queries import job_history as history
from storage.queries import jobs as queries
from storage.queries.callbacks import job_deliveries
from storage.queries.keyset import PageRequest
from streams.api.auth import Organization
from streams.api.filters import METADATA_HELP, job_filter
from streams.api.models import CommandAccepted, Job, JobCallbacks, JobEvents, JobMessages, JobPage, Problem
from streams.api.paging import CURSOR_PROBLEM, cursors_checked, paging
from streams.api.params import MAX_EVENT_ID_LENGTH, JobIdPath, SeqQuery
from streams.api.routes.commands import KAFKA_UNAVAILABLE, Traceparent, submit
from streams.api.state import State

router = APIRouter(prefix="/jobs", tags=["jobs"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such job in your organization."}
}


job_page = paging("A job id", "(created_at, id) order", MAX_ID_LENGTH)
event_page = paging("An event_id", "seq order", MAX_EVENT_ID_LENGTH)
message_page = paging("A message_id", "(created_at, message_id) order", MAX_ID_LENGTH)


def job_listing_page(
    page: Annotated[PageRequest, Depends(job_page)],
    order_by: Annotated[
        ListOrder,
        Query(description="`duration` (completed_at - created_at) lists only finished jobs; ties by id."),
    ] = ListOrder.CREATED_AT,
) -> queries.PageRequest:
    return queries.PageRequest(page.before, page.after, page.limit, page.ascending, order_by)


@router.get(
    "",
    response_model=JobPage,
    responses=CURSOR_PROBLEM,
    description="Your organization's jobs in (created_at, id) or (duration, id) order; follow `next_cursor`"
    " for the next page. " + METADATA_HELP,
)
async def list_jobs(
    state: State,
    organization: Organization,
    filters: Annotated[queries.JobFilter, Depends(job_filter)],
    page: Annotated[queries.PageRequest, Depends(job_listing_page)],
) -> dict[str, Any]:
    """Your organization's jobs ordered by (created_at, id) or (duration, id); follow `next_cursor`."""
    with cursors_checked():
        found = await queries.list_jobs(state.engine, organization, filters, page)
    return {"jobs": found.jobs, "next_cursor": found.next_cursor}


async def visible_job(job_id: JobIdPath, state: State, organization: Organization) -> dict[str, Any]:
    """404 alike for a missing job and another organization's: existence is not disclosed."""
    job = await queries.get_job(state.engine, organization, job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "job not found in your organization")
    return job


VisibleJob = Annotated[dict[str, Any], Depends(visible_job)]


@router.get("/{job_id}", response_model=Job, responses=NOT_FOUND)
async def get_job(job: VisibleJob) -> dict[str, Any]:
    return job


@router.get("/{job_id}/events", response_model=JobEvents, responses={**NOT_FOUND, **CURSOR_PROBLEM})
async def job_events(
    job: VisibleJob, state: State, page: Annotated[PageRequest, Depends(event_page)], after_seq: SeqQuery = 0
) -> Response:
    """The job's log by seq, paged by event_id; rejected commands change nothing and are only on
    jobs.events. Each event is the stored document that was published, not re-encoded."""
    with cursors_checked():
        found = await history.job_events_page(state.engine, job["id"], page, after_seq)
    return JSONResponse({"events": found.items, "next_cursor": found.next_cursor})


@router.get("/{job_id}/messages", response_model=JobMessages, responses={**NOT_FOUND, **CURSOR_PROBLEM})
async def job_messages(
    job: VisibleJob, state: State, page: Annotated[PageRequest, Depends(message_page)]
) -> dict[str, Any]:
    """The message ids attached to the job, by (created_at, message_id), paged by message_id."""
    with cursors_checked():
        found = await history.job_messages_page(state.engine, job["id"], page)
    return {"messages": found.items, "next_cursor": found.next_cursor}


@router.get("/{job_id}/callbacks", response_model=JobCallbacks, responses=NOT_FOUND)
async def job_callbacks(job: VisibleJob, state: State, organization: Organization) -> dict[str, Any]:
    """The job's callback deliveries and their endpoints' circuit breakers (docs/contract.md §7)."""
    return {"callbacks": await job_deliveries(state.engine, organization, job["id"])}


@router.delete(
    "/{job_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CommandAccepted,
    responses={**NOT_FOUND, **KAFKA_UNAVAILABLE},
)
async def delete_job(
    job: VisibleJob,
    state: State,
    organization: Organization,
    command_id: Annotated[
        str | None, Query(description="Reuse one to retry safely; default: a new UUID.")
    ] = None,
    traceparent: Traceparent = None,
) -> dict[str, str]:
    """Publish a `delete` command (docs/contract.md rule 14): ordered with the job's other commands,
    it removes the job and everything stored about it; a `job.deleted` event follows."""
    command = {"type": "delete", "job_id": job["id"]}
    if command_id is not None:
        command["command_id"] = command_id
    return await submit(state, organization, command, traceparent)
