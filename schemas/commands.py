"""Command models (spec §3): what producers publish to `jobs.commands`, keyed by job id."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from schemas.vocabulary import JobType, Status, StopReason

NonEmpty = Annotated[str, Field(min_length=1, max_length=512)]
MAX_TIMEOUT_S = 10 * 365 * 24 * 3600  # beyond ten years a timeout is a bug, and datetimes overflow
MAX_BIGINT = 2**63 - 1  # the *_ns columns are Postgres bigint


class _Command(BaseModel):
    # Unknown fields are ignored so newer producers (which may add optional fields) keep working.
    model_config = ConfigDict(extra="ignore", frozen=True)

    command_id: NonEmpty = Field(description="Unique per retry-safe operation; a retry reuses it.")
    job_id: NonEmpty
    issued_at: datetime | None = None
    organization_id: str | None = None


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    custom_id: NonEmpty
    job_id: NonEmpty


class CreateCommand(_Command):
    type: Literal["create"]
    job_type: JobType = JobType.JOB
    status: Status = Field(Status.CREATED, description="Initial status: created, pending or running.")
    metadata: dict[str, Any] = Field(default_factory=dict)
    callback_url: Annotated[str, Field(max_length=2048)] | None = None
    agent_id: str | None = None
    background: bool | None = None
    request_config: dict[str, Any] | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=MAX_TIMEOUT_S)] | None = None
    batch_id: str | None = Field(None, description="The parent batch job, for a batch's items.")
    provider: str | None = None
    provider_batch_id: str | None = None
    items: list[BatchItem] | None = None


class TransitionCommand(_Command):
    type: Literal["transition"]
    status: Status
    stop_reason: StopReason | None = None
    metadata: dict[str, Any] | None = Field(None, description="A JSON Merge Patch (RFC 7386).")
    expected_status: Status | None = None
    force: bool = False
    ttft_ns: Annotated[int, Field(ge=0, le=MAX_BIGINT)] | None = None
    total_duration_ns: Annotated[int, Field(ge=0, le=MAX_BIGINT)] | None = None


class CancelCommand(_Command):
    type: Literal["cancel"]
    stop_reason: StopReason = StopReason.CANCELLED


class UpdateMetadataCommand(_Command):
    type: Literal["update_metadata"]
    metadata: dict[str, Any] = Field(description="A JSON Merge Patch (RFC 7386).")


class AttachMessagesCommand(_Command):
    type: Literal["attach_messages"]
    message_ids: Annotated[list[NonEmpty], Field(min_length=1, max_length=10_000)]


class RecordCallbackCommand(_Command):
    """Produced by the service's callback deliverer: the job row keeps a single writer."""

    type: Literal["record_callback"]
    sent_at: datetime | None = None
    status_code: int | None = None
    error: str | None = None
    attempts: Annotated[int, Field(ge=0)] = 0


Command = Annotated[
    CreateCommand
    | TransitionCommand
    | CancelCommand
    | UpdateMetadataCommand
    | AttachMessagesCommand
    | RecordCallbackCommand,
    Field(discriminator="type"),
]
COMMAND_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)

# Per type, the fields (beyond command_id, job_id, type) without which a message is not a command at
# all, with their JSON type: missing or mistyped ones send it to the dead-letter topic (spec §6).
REQUIRED_FIELDS: dict[str, dict[str, type]] = {
    "create": {},
    "transition": {"status": str},
    "cancel": {},
    "update_metadata": {"metadata": dict},
    "attach_messages": {"message_ids": list},
    "record_callback": {},
}
