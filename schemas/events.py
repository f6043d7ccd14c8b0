"""Events emitted to `jobs.events` (docs/contract.md §5) and their model for JSON Schema and clients."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from schemas.job import JobState
from schemas.vocabulary import EventType, RejectionCode


def event_id(job_id: str, seq: int) -> str:
    """Stable id of the event that applied command number `seq` (rule 9)."""
    return f"{job_id}:{seq}"


def rejection_id(job_id: str, command_id: str) -> str:
    """Stable id of a rejection: a retried rejected command is rejected under the same id."""
    return f"{job_id}:rejected:{command_id}"


def applied_event(
    event_type: EventType, job: JobState, command_id: str, at: datetime, **extra: Any
) -> dict[str, Any]:
    return {
        "event_id": event_id(job.id, job.seq),
        "type": event_type.value,
        "job_id": job.id,
        "seq": job.seq,
        "command_id": command_id,
        "occurred_at": at.isoformat(),
        **extra,
        "job": job.public(),
    }


def rejected_event(
    job_id: str,
    command_id: str,
    code: RejectionCode,
    message: str,
    command: dict[str, Any],
    job: JobState | None,
    at: datetime,
) -> dict[str, Any]:
    if code is RejectionCode.FORBIDDEN:
        job = None  # the job belongs to another organization: its state is not the sender's to see
    return {
        "event_id": rejection_id(job_id, command_id),
        "type": EventType.COMMAND_REJECTED.value,
        "job_id": job_id,
        "seq": job.seq if job is not None else None,
        "command_id": command_id,
        "occurred_at": at.isoformat(),
        "reason": {"code": code.value, "message": message},
        "command": command,
        "job": job.public() if job is not None else None,
    }


class Reason(BaseModel):
    code: RejectionCode
    message: str


class Event(BaseModel):
    """One event on `jobs.events`; consumers dedup by `event_id` and order by `seq`."""

    model_config = ConfigDict(extra="allow")

    event_id: str = Field(description='"{job_id}:{seq}", or "{job_id}:rejected:{command_id}".')
    type: EventType
    job_id: str
    seq: int | None = Field(description="The job's seq after the change (current seq for a rejection).")
    command_id: str
    occurred_at: datetime
    job: dict[str, Any] | None = Field(description="The full job after the change.")
    from_status: str | None = None
    to_status: str | None = None
    stop_reason: str | None = None
    forced: bool | None = None
    message_ids: list[str] | None = None
    attempt: int | None = Field(
        None, description="job.attempt_failed: the attempt that failed; a retry's status_changed: the next."
    )
    retry_at: datetime | None = Field(None, description="job.attempt_failed: when the next attempt is due.")
    reason: Reason | None = None
    command: dict[str, Any] | None = None
