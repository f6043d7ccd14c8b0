"""`GET /batches/{id}`: a batch job, its items counted by result and by child status (docs/contract.md §8)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from storage.queries.batches import batch_progress
from streams.api.auth import Organization
from streams.api.models import Problem
from streams.api.params import BatchIdPath
from streams.api.state import State

router = APIRouter(prefix="/batches", tags=["batches"])


class ProviderCancel(BaseModel):
    """docs/contract.md §8 "Cancel": null fields mean not yet."""

    outcome: Literal["acknowledged", "already_ended", "refused"] | None = Field(
        description="The provider's answer; null while the cancel is still owed."
    )
    error: str | None = Field(description="The refusal, or the last outage while the cancel is owed.")
    attempts: int = Field(description="Claims by a poller: one per round that tried.")
    requested_at: datetime
    outcome_at: datetime | None
    finished_at: datetime | None = Field(description="The provider ended the batch; pollers stopped asking.")


class ProviderState(BaseModel):
    """What the provider said in the latest poll (docs/contract.md §8)."""

    provider_status: Literal["in_progress", "canceling", "ended"]
    outcome: Literal["completed", "cancelled", "expired", "failed"] | None = Field(
        description="How the batch ended; null while it has not."
    )
    request_counts: dict[str, int] | None = Field(
        description="The provider's counters: processing, succeeded, errored, canceled, expired."
    )
    polled_at: datetime


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
    provider_state: ProviderState | None = Field(
        default=None, description="What the provider said in the latest poll; null before the first."
    )
    provider_cancel: ProviderCancel | None = Field(
        default=None, description="The cancel owed to the provider since the batch job was cancelled."
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
