"""Console page of one batch job: its items counted by provider result and by child job status."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from schemas.bounds import MAX_ID_LENGTH
from storage.queries.batches import batch_progress
from streams.api.console.render import page, refusal
from streams.api.console.session import SignedIn
from streams.api.state import State

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/batches/{batch_id:path}")
async def batch_page(request: Request, batch_id: str, session: SignedIn, state: State) -> Response:
    progress = None
    if len(batch_id) <= MAX_ID_LENGTH and "\x00" not in batch_id:
        progress = await batch_progress(state.engine, batch_id, session.organization)
    if progress is None:
        return refusal(request, session, "No such batch", status.HTTP_404_NOT_FOUND)
    return page(request, "batch.html", {"session": session, "batch": progress})
