"""`GET /batches/{id}`: a batch job, its items counted by result and by child status (docs/contract.md §8)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from storage.queries.batches import batch_progress
from streams.api.auth import Organization
from streams.api.models import Problem
from streams.api.params import BatchIdPath
from streams.api.state import State

router = APIRouter(prefix="/batches", tags=["batches"])


class BatchProgress(BaseModel):
    id: str
    status: str = Field(description="The batch job's status.")
    provider: str | None
    provider_batch_id: str | None
    created_at: datetime
    completed_at: datetime | None
    total_items: int
    results: dict[str, int] = Field(
        description="Items by provider result (succeeded, errored, canceled, expired); `pending` = none yet."
    )
    job_statuses: dict[str, int] = Field(
        description="Items by their child job's status; `missing` = the child job does not exist."
    )


@router.get(
    "/{batch_id}",
    response_model=BatchProgress,
    responses={404: {"model": Problem, "description": "No such batch job in your organization."}},
)
async def get_batch(batch_id: BatchIdPath, state: State, organization: Organization) -> dict[str, Any]:
    """Counts come from Postgres: results as recorded from the provider, statuses as applied."""
    progress = await batch_progress(state.engine, batch_id, organization)
    if progress is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "batch not found in your organization")
    return dataclasses.asdict(progress)
