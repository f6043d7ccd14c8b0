"""Response bodies, for validation and the OpenAPI document."""

from __future__ import annotations

import typing
from datetime import datetime
from typing import Annotated, Any

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
