"""A job's state as the validator, the table, Postgres and the events all see it."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import orjson

from schemas.vocabulary import JobType, Status

_TIMES = ("callback_sent_at", "expires_at", "created_at", "updated_at", "completed_at")


@dataclass(slots=True)
class JobState:
    """Every spec field of a job plus `applied`: command id -> the seq it produced (rule 7)."""

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
    applied: dict[str, int] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """The job as events and the API show it, without the idempotency ledger.

        Datetimes stay datetimes: orjson writes them as RFC 3339 when the event is encoded.
        """
        return {name: getattr(self, name) for name in PUBLIC_FIELD_NAMES}

    def copy(self) -> JobState:
        """A copy whose ledger can grow without touching this one (metadata is replaced, never mutated)."""
        clone = JobState(*[getattr(self, name) for name in _ALL_FIELD_NAMES])
        clone.applied = dict(self.applied)
        return clone

    def to_bytes(self) -> bytes:
        """Table encoding: compact JSON; orjson serialises the dataclass natively, and fast."""
        return orjson.dumps(self)

    @classmethod
    def from_bytes(cls, raw: bytes) -> JobState:
        data = orjson.loads(raw)
        for name in _TIMES:
            if data[name] is not None:
                data[name] = datetime.fromisoformat(data[name])
        data["job_type"] = JobType(data["job_type"])
        data["status"] = Status(data["status"])
        return cls(**data)


_ALL_FIELD_NAMES = tuple(f.name for f in fields(JobState))
PUBLIC_FIELD_NAMES = tuple(name for name in _ALL_FIELD_NAMES if name != "applied")
