"""Response bodies, for validation and the OpenAPI document."""

from __future__ import annotations

import typing
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from schemas.events import Event
from schemas.job import PUBLIC_FIELD_NAMES, JobState


def _job_model() -> type[BaseModel]:
    """The public job, derived from JobState's fields so the API cannot drift from the events' `job`.

    Every field is required (possibly null): a job row always has every column.
    """
    hints = typing.get_type_hints(JobState)
    fields: dict[str, Any] = {name: (hints[name], ...) for name in PUBLIC_FIELD_NAMES}
    model = create_model("Job", __config__=ConfigDict(extra="allow"), **fields)
    model.__doc__ = "A job as stored in Postgres (the source of truth), the same shape as an event's `job`."
    return model


Job = _job_model()

# Every listing pages the same way (storage/queries/keyset.py).
NextCursor = Annotated[
    str | None,
    Field(
        description="Pass as `after` (ascending) or `before` (descending) for the next page; null on the last"
    ),
]


class JobPage(BaseModel):
    jobs: list[Job] = Field(  # type: ignore[valid-type]
        description="In (created_at, id) or (duration, id) order, ascending or descending as asked."
    )
    next_cursor: NextCursor


class JobEvents(BaseModel):
    events: list[Event] = Field(
        description="The job's applied events in seq order, each exactly as published on jobs.events."
    )
    next_cursor: NextCursor


class Message(BaseModel):
    message_id: str
    created_at: datetime


class JobMessages(BaseModel):
    messages: list[Message] = Field(description="In (created_at, message_id) order, as asked.")
    next_cursor: NextCursor


class CallbackDelivery(BaseModel):
    """One terminal event's webhook (docs/contract.md §7) and the circuit breaker of its endpoint."""

    event_id: str = Field(description="The webhook-id, the same on every attempt.")
    url: str
    state: Literal["pending", "delivered", "failed"]
    attempts: int = Field(description="Attempts spent; a deferral or a failed breaker probe spends none.")
    last_status_code: int | None
    last_error: str | None = Field(description='Ends with "(breaker probe)" after a failed probe.')
    next_attempt_at: datetime = Field(description="While pending: when it is due (or its lease ends).")
    created_at: datetime
    finished_at: datetime | None
    deferred: bool = Field(description="Held by its endpoint's open breaker, spending no attempt.")
    endpoint_state: Literal["closed", "open", "half_open", "disabled"] = Field(
        description="The endpoint's breaker now; disabled: deliveries end as endpoint_disabled until an "
        "operator enables it."
    )
    next_probe_at: datetime | None = Field(description="While open: when one delivery probes the endpoint.")


class JobCallbacks(BaseModel):
    callbacks: list[CallbackDelivery] = Field(description="Oldest first; one per terminal event.")


class Spread(BaseModel):
    """Percentiles (percentile_cont, interpolated) over the jobs that have the value; null when none has."""

    count: int = Field(description="Jobs that have the value.")
    p50: float | None
    p90: float | None
    p99: float | None


class JobStats(BaseModel):
    total: int = Field(description="Jobs the filters select.")
    by_status: dict[str, int]
    by_job_type: dict[str, int]
    by_stop_reason: dict[str, int] = Field(description="Jobs without a stop reason are not counted here.")
    duration_s: Spread = Field(description="completed_at - created_at in seconds, over finished jobs.")
    total_duration_ns: Spread = Field(description="`total_duration_ns` as recorded, over jobs that have it.")


class CommandAccepted(BaseModel):
    command_id: str = Field(description="Generated when the command had none; retry with the same id.")


class Problem(BaseModel):
    """Every 4xx/5xx body the API writes itself; `detail` says what went wrong and what to do."""

    detail: Any
