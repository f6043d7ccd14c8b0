"""A job's state as the validator, the table, Postgres and the events all see it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
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
        """The job as events and the API show it (JSON-ready, without the idempotency ledger)."""
        out = {f.name: getattr(self, f.name) for f in _PUBLIC_FIELDS}
        for name in _TIMES:
            value = out[name]
            out[name] = value.isoformat() if value is not None else None
        return out

    def copy(self) -> JobState:
        clone = JobState(**{f.name: getattr(self, f.name) for f in fields(self)})
        clone.applied = dict(self.applied)
        return clone

    def to_bytes(self) -> bytes:
        """Table encoding: compact JSON (orjson writes datetimes as RFC 3339)."""
        return orjson.dumps(asdict(self))

    @classmethod
    def from_bytes(cls, raw: bytes) -> JobState:
        data = orjson.loads(raw)
        for name in _TIMES:
            if data[name] is not None:
                data[name] = datetime.fromisoformat(data[name])
        data["job_type"] = JobType(data["job_type"])
        data["status"] = Status(data["status"])
        return cls(**data)


_PUBLIC_FIELDS = tuple(f for f in fields(JobState) if f.name != "applied")
PUBLIC_FIELD_NAMES = tuple(f.name for f in _PUBLIC_FIELDS)
