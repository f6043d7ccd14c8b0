"""Console pages of jobs: the filtered, paged list with its statistics, one job's page, cancel and delete."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import RedirectResponse

from schemas.bounds import MAX_ID_LENGTH
from schemas.vocabulary import JobType, ListOrder, Status, StopReason
from storage.exceptions import QueryTooSlow
from storage.queries import job_history as history
from storage.queries import jobs as queries
from storage.queries.callbacks import job_deliveries
from storage.queries.filters import JobFilter
from storage.queries.keyset import PageRequest
from storage.queries.stats import JobStats, job_stats
from streams.api.console.render import job_path, page, refusal
from streams.api.console.session import CheckedForm, SignedIn
from streams.api.filters import checked_pairs, job_filter
from streams.api.paging import cursors_checked
from streams.api.params import MAX_EVENT_ID_LENGTH
from streams.api.routes.commands import submit
from streams.api.routes.jobs import job_listing_page
from streams.api.state import State

router = APIRouter(prefix="/ui", include_in_schema=False)

HISTORY_PAGE = 100  # events and messages shown at once on a job page
ACTIONS = {"cancel": "cancel", "delete": "delete"}  # form action -> command type
CHOICES = {
    "statuses": [s.value for s in Status],
    "job_types": [t.value for t in JobType],
    "stop_reasons": [r.value for r in StopReason],
    "orders": [o.value for o in ListOrder],
}


def console_filter(
    filters: Annotated[JobFilter, Depends(job_filter)],
    meta: Annotated[list[str] | None, Query(description="KEY=VALUE, repeatable.")] = None,
) -> JobFilter:
    """The API's filters, plus the form's `meta=KEY=VALUE` fields (a form cannot name `metadata.KEY`)."""
    pairs = [(key, value) for key, _, value in (pair.partition("=") for pair in meta or () if pair)]
    return replace(filters, metadata=checked_pairs([*filters.metadata, *pairs]))


@router.get("")
async def home() -> Response:
    return RedirectResponse("/ui/jobs", status.HTTP_303_SEE_OTHER)


@router.get("/jobs")
async def jobs_page(
    request: Request,
    session: SignedIn,
    state: State,
    filters: Annotated[JobFilter, Depends(console_filter)],
    paging: Annotated[queries.PageRequest, Depends(job_listing_page)],
) -> Response:
    with cursors_checked():
        found = await queries.list_jobs(state.engine, session.organization, filters, paging)
    stats: JobStats | None
    try:
        stats = await job_stats(state.engine, session.organization, filters)
    except QueryTooSlow:
        stats = None  # the list still shows; the box says why it is empty
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("after", "before")]
    follow = "after" if paging.ascending else "before"
    next_link = f"?{urlencode([*kept, (follow, found.next_cursor)])}" if found.next_cursor else None
    context = {
        "session": session,
        "jobs": found.jobs,
        "stats": stats,
        "next_link": next_link,
        "first_link": f"?{urlencode(kept)}" if (paging.after or paging.before) else None,
        "chosen": request.query_params,
        "metadata": [f"{key}={value}" for key, value in filters.metadata],
        **CHOICES,
    }
    return page(request, "jobs.html", context)


@router.get("/jobs/{job_id:path}")
async def job_page(
    request: Request,
    job_id: str,
    session: SignedIn,
    state: State,
    events_after: Annotated[str | None, Query(max_length=MAX_EVENT_ID_LENGTH)] = None,
    messages_after: Annotated[str | None, Query(max_length=MAX_ID_LENGTH)] = None,
    accepted: Annotated[str | None, Query(max_length=MAX_ID_LENGTH)] = None,
) -> Response:
    job = await _visible(state, session.organization, job_id)
    if job is None:
        return refusal(request, session, "No such job", status.HTTP_404_NOT_FOUND)
    with cursors_checked():
        events = await history.job_events_page(
            state.engine, job["id"], PageRequest(after=events_after, limit=HISTORY_PAGE)
        )
        messages = await history.job_messages_page(
            state.engine, job["id"], PageRequest(after=messages_after, limit=HISTORY_PAGE)
        )
    context = {
        "session": session,
        "job": job,
        "fields": {k: v for k, v in job.items() if k != "metadata"},
        "events": events,
        "messages": messages,
        "rejections": await history.recent_rejections(state.engine, job["id"]),
        "deliveries": await job_deliveries(state.engine, session.organization, job["id"]),
        "accepted": accepted,
    }
    return page(request, "job.html", context)


@router.post("/actions/{action}")
async def act(
    request: Request, action: str, session: SignedIn, state: State, fields: CheckedForm
) -> Response:
    """Cancel or delete through the API's own command path; the outcome arrives as an event."""
    job_id = fields.get("job_id", "")
    job = await _visible(state, session.organization, job_id)
    if action not in ACTIONS or job is None:
        return refusal(request, session, "No such job", status.HTTP_404_NOT_FOUND)
    accepted = await submit(state, session.organization, {"type": ACTIONS[action], "job_id": job["id"]}, None)
    query = urlencode({"accepted": f"{action} {accepted['command_id']}"})
    return RedirectResponse(f"{job_path(job['id'])}?{query}", status.HTTP_303_SEE_OTHER)


async def _visible(state: State, organization: str, job_id: str) -> dict[str, Any] | None:
    """The job if the caller's organization has it; ids Postgres cannot hold are simply not found."""
    if not job_id or len(job_id) > MAX_ID_LENGTH or "\x00" in job_id:
        return None
    return await queries.get_job(state.engine, organization, job_id)
