"""A job's state as the validator, the table, Postgres and the events all see it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import orjson

from schemas.vocabulary import JobType, Status

_TIMES = (
    "callback_sent_at",
    "expires_at",
    "created_at",
    "updated_at",
    "completed_at",
    "retry_at",
    "last_heartbeat_at",
    "heartbeat_expires_at",
)


@dataclass(slots=True)
class JobState:
    """Every field the contract gives a job; its size does not depend on how many commands it has seen.

    Which command ids were applied (rule 7) is asked of Postgres per batch, never kept here: a ledger in
    the state grew with the job's history and was rewritten to the table's changelog on every batch."""

    id: str
    job_type: JobType
    status: Status
    seq: int
    created_at: datetime
    updated_at: datetime
    stop_reason: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    organization_id: str | None = None
    agent_id: str | None = None
    background: bool | None = None
    request_config: dict[str, Any] | None = None
    batch_id: str | None = None
    provider: str | None = None
    provider_batch_id: str | None = None
    callback_url: str | None = None
    callback_sent_at: datetime | None = None
    callback_status_code: int | None = None
    callback_error: str | None = None
    callback_attempts: int = 0
    timeout_seconds: float | None = None
    expires_at: datetime | None = None
    ttft_ns: int | None = None
    total_duration_ns: int | None = None
    completed_at: datetime | None = None
    # Rule 15: the attempt under way (1-based) of at most `max_attempts`; `retry_at` is set while a failed
    # attempt waits out its backoff, and the policy (a dict, as the create gave it) says how long.
    attempt: int = 1
    max_attempts: int = 1
    retry_policy: dict[str, Any] | None = None
    retry_at: datetime | None = None
    # Rule 16: a running job is failed when `heartbeat_expires_at` passes (last heartbeat + timeout).
    heartbeat_timeout_seconds: float | None = None
    last_heartbeat_at: datetime | None = None
    heartbeat_expires_at: datetime | None = None
    # Where the last applied heartbeat was read on `jobs.commands`: one read again is told by it.
    heartbeat_partition: int | None = None
    heartbeat_offset: int | None = None

    def public(self) -> dict[str, Any]:
        """The job as events and the API show it.

        Datetimes stay datetimes: orjson writes them as RFC 3339 when the event is encoded.
        """
        return {name: getattr(self, name) for name in PUBLIC_FIELD_NAMES}

    def copy(self) -> JobState:
        """A shallow copy: metadata is replaced by the validator, never mutated."""
        return JobState(*[getattr(self, name) for name in PUBLIC_FIELD_NAMES])

    def to_bytes(self) -> bytes:
        """Table encoding: compact JSON; orjson serialises the dataclass natively, and fast."""
        return orjson.dumps(self)

    @classmethod
    def from_bytes(cls, raw: bytes) -> JobState:
        data = orjson.loads(raw)
        if tuple(data) == PUBLIC_FIELD_NAMES:
            # What `to_bytes` writes: every field, in order. Positional, because orjson's keys are not
            # interned: by keyword, or read by name, CPython compares each of forty names as strings
            # (a decode took 17-21 µs by name, 7-9 µs by position).
            values = list(data.values())
            _typed(values, _TIME_POSITIONS, _JOB_TYPE_AT, _STATUS_AT)
            return cls(*values)
        return cls._from_older(data)

    @classmethod
    def _from_older(cls, data: dict[str, Any]) -> JobState:
        """A state written before a field existed (or after one moved out): matched by name."""
        data.pop("applied", None)  # the ledger values written before it moved to Postgres
        # A field the value lacks keeps its default.
        _typed(data, [name for name in _TIMES if name in data], "job_type", "status")
        known = {name: data[name] for name in PUBLIC_FIELD_NAMES if name in data}
        if len(known) != len(data):
            raise TypeError(f"job state has unknown fields {sorted(set(data) - set(known))}")
        return cls(**known)


def _typed(values: Any, times: Iterable[Any], job_type: Any, status: Any) -> None:
    """JSON values to the fields' types, in place: a list by position or a dict by name."""
    for at in times:
        if values[at] is not None:
            values[at] = datetime.fromisoformat(values[at])
    values[job_type] = JobType(values[job_type])
    values[status] = Status(values[status])


PUBLIC_FIELD_NAMES = tuple(f.name for f in fields(JobState))
_TIME_POSITIONS = tuple(PUBLIC_FIELD_NAMES.index(name) for name in _TIMES)
_JOB_TYPE_AT = PUBLIC_FIELD_NAMES.index("job_type")
_STATUS_AT = PUBLIC_FIELD_NAMES.index("status")
