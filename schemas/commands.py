"""Command models (docs/contract.md §3): what producers publish to `jobs.commands`, keyed by job id."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, TypeAdapter

from schemas.bounds import (
    INTEGRAL,
    MAX_ATTEMPTS,
    MAX_BACKOFF_MULTIPLIER,
    MAX_BACKOFF_S,
    MAX_COMMAND_ID_LENGTH,
    MAX_CUSTOM_ID_LENGTH,
    MAX_ERROR_LENGTH,
    MAX_ID_LENGTH,
    MAX_INT4,
    MAX_INT64,
    MAX_LIST_ITEMS,
    MAX_STATUS_CODE,
    MAX_TIMEOUT_S,
    MAX_URL_LENGTH,
    MIN_STATUS_CODE,
    JsonFloat,
    JsonObject,
    Timestamp,
)
from schemas.vocabulary import INITIAL, JobType, Status, StopReason

# Bounds: schemas/bounds.py says why each one; docs/contract.md §3 lists them for producers.
Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH, strict=True)]
OptionalId = Annotated[str, Field(max_length=MAX_ID_LENGTH, strict=True)] | None
CommandId = Annotated[str, Field(min_length=1, max_length=MAX_COMMAND_ID_LENGTH, strict=True)]
CustomId = Annotated[str, Field(min_length=1, max_length=MAX_CUSTOM_ID_LENGTH, strict=True)]
Nanoseconds = Annotated[int, Field(strict=True, ge=0, le=MAX_INT64), INTEGRAL]  # Postgres bigint
StatusCode = Annotated[int, Field(strict=True, ge=MIN_STATUS_CODE, le=MAX_STATUS_CODE), INTEGRAL]

# Rules of a create that JSON Schema can state (schemas/content.py checks them, with distinct custom_ids).
_CREATE_RULES: dict[str, Any] = {
    "if": {"properties": {"job_type": {"const": JobType.BATCH.value}}, "required": ["job_type"]},
    "then": {
        "required": ["provider", "provider_batch_id"],
        "properties": {
            "provider": {"type": "string", "minLength": 1},
            "provider_batch_id": {"type": "string", "minLength": 1},
        },
    },
    "else": {"properties": {"items": {"type": "null"}}},
}


class _Command(BaseModel):
    # Unknown fields are ignored so newer producers (which may add optional fields) keep working.
    model_config = ConfigDict(extra="ignore", frozen=True)

    command_id: CommandId = Field(description="Unique per retry-safe operation; a retry reuses it.")
    job_id: Id
    issued_at: Timestamp | None = None
    organization_id: OptionalId = None


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    custom_id: CustomId
    job_id: Id


# Rule 15's default: failures that another attempt may well not repeat (an outage, a dead runner).
DEFAULT_RETRYABLE = (
    StopReason.LLM_API_ERROR,
    StopReason.PROVIDER_ERROR,
    StopReason.INTERNAL_ERROR,
    StopReason.HEARTBEAT_TIMEOUT,
)
Backoff = Annotated[JsonFloat, Field(ge=0, le=MAX_BACKOFF_S)]


class RetryPolicy(BaseModel):
    """Rule 15: how often a job is attempted, and how long it waits between attempts.

    The wait after failed attempt n is min(max_backoff_seconds, initial_backoff_seconds *
    backoff_multiplier**(n-1)), jittered into its upper half (schemas/retries.py says why)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    max_attempts: Annotated[int, Field(strict=True, ge=1, le=MAX_ATTEMPTS), INTEGRAL] = 3
    initial_backoff_seconds: Backoff = 1.0
    backoff_multiplier: Annotated[JsonFloat, Field(ge=1, le=MAX_BACKOFF_MULTIPLIER)] = 2.0
    max_backoff_seconds: Backoff = 300.0
    retryable_stop_reasons: Annotated[list[StopReason], Field(max_length=len(StopReason))] = Field(
        default_factory=lambda: list(DEFAULT_RETRYABLE)
    )


class CreateCommand(_Command):
    model_config = ConfigDict(json_schema_extra=_CREATE_RULES)

    type: Literal["create"]
    job_type: JobType = JobType.JOB
    status: Status = Field(
        Status.CREATED,
        description="Initial status: created, pending or running.",
        json_schema_extra={"enum": [s.value for s in Status if s in INITIAL]},
    )
    metadata: JsonObject = Field(default_factory=dict)
    callback_url: Annotated[str, Field(max_length=MAX_URL_LENGTH, strict=True)] | None = None
    agent_id: OptionalId = None
    background: StrictBool | None = None
    request_config: JsonObject | None = None
    timeout_seconds: Annotated[JsonFloat, Field(gt=0, le=MAX_TIMEOUT_S)] | None = None
    retry_policy: RetryPolicy | None = Field(None, description="Rule 15: retry failed attempts.")
    heartbeat_timeout_seconds: Annotated[JsonFloat, Field(gt=0, le=MAX_TIMEOUT_S)] | None = Field(
        None, description="Rule 16: fail a running job whose runner sends no heartbeat for this long."
    )
    batch_id: OptionalId = Field(None, description="The parent batch job, for a batch's items.")
    provider: OptionalId = None
    provider_batch_id: OptionalId = None
    items: Annotated[list[BatchItem], Field(max_length=MAX_LIST_ITEMS)] | None = None


class TransitionCommand(_Command):
    type: Literal["transition"]
    status: Status
    stop_reason: StopReason | None = None
    metadata: JsonObject | None = Field(None, description="A JSON Merge Patch (RFC 7386).")
    expected_status: Status | None = None
    force: StrictBool = False
    ttft_ns: Nanoseconds | None = None
    total_duration_ns: Nanoseconds | None = None


class CancelCommand(_Command):
    type: Literal["cancel"]
    stop_reason: StopReason = StopReason.CANCELLED


class UpdateMetadataCommand(_Command):
    """No status change, in any status: a metadata patch, and timings recorded as they become known
    (time to first token, then the whole duration), as Letta's `record_ttft` / `record_response_duration`."""

    type: Literal["update_metadata"]
    metadata: JsonObject = Field(default_factory=dict, description="A JSON Merge Patch (RFC 7386).")
    ttft_ns: Nanoseconds | None = None
    total_duration_ns: Nanoseconds | None = None


class AttachMessagesCommand(_Command):
    type: Literal["attach_messages"]
    message_ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_LIST_ITEMS)]


class RecordCallbackCommand(_Command):
    """Produced by the service's callback deliverer: the job row keeps a single writer."""

    type: Literal["record_callback"]
    sent_at: Timestamp | None = None
    status_code: StatusCode | None = None
    error: Annotated[str, Field(max_length=MAX_ERROR_LENGTH, strict=True)] | None = None
    attempts: Annotated[int, Field(strict=True, ge=0, le=MAX_INT4), INTEGRAL] = 0  # Postgres integer


class HeartbeatCommand(_Command):
    """Rule 16: a runner says it is alive. Status-neutral, and cheap: no event, no new seq."""

    type: Literal["heartbeat"]


class RetryCommand(_Command):
    """Rule 15, produced by the service when a backoff ends: failed attempt `attempt` is retried."""

    type: Literal["retry"]
    attempt: Annotated[int, Field(strict=True, ge=1, le=MAX_ATTEMPTS), INTEGRAL]


class HeartbeatTimeoutCommand(_Command):
    """Rule 16, produced by the service: the running job's heartbeat deadline `deadline` has passed.

    It names the deadline it saw, so a heartbeat that moved it meanwhile makes it stale (rejected) instead
    of failing a runner that is alive; no clocks are compared where it is applied."""

    type: Literal["heartbeat_timeout"]
    deadline: Timestamp


class DeleteCommand(_Command):
    """Removes the job and everything stored about it (rule 14); ordered with the job's other commands."""

    type: Literal["delete"]


Command = Annotated[
    CreateCommand
    | TransitionCommand
    | CancelCommand
    | UpdateMetadataCommand
    | AttachMessagesCommand
    | RecordCallbackCommand
    | DeleteCommand
    | HeartbeatCommand
    | HeartbeatTimeoutCommand
    | RetryCommand,
    Field(discriminator="type"),
]
COMMAND_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)

# Per type, the fields (beyond command_id, job_id, type) without which a message is not a command at
# all, with their JSON type: missing or mistyped ones send it to the dead-letter topic (docs/contract.md §6).
REQUIRED_FIELDS: dict[str, dict[str, type]] = {
    "create": {},
    "transition": {"status": str},
    "cancel": {},
    "update_metadata": {},
    "attach_messages": {"message_ids": list},
    "record_callback": {},
    "delete": {},
    "heartbeat": {},
    "heartbeat_timeout": {},
    "retry": {},
}
