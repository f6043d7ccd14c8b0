"""The callback body (contract §7): which job fields go out, and their exact bytes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

# Fixed forever: changing it would change every event id and defeat receivers' de-duplication.
_EVENT_NAMESPACE = uuid.UUID("5d0c3f36-3b1e-4f57-9d0a-7c8b0e4a6f21")


def derive_event_id(job_id: str, status: str) -> str:
    """A stable id for "job reached this terminal status", so a re-dispatch after a crash reuses it
    (the webhook-id receivers de-duplicate on)."""
    return f"evt_{uuid.uuid5(_EVENT_NAMESPACE, f'{job_id}:{status}').hex}"


def build_payload(job: Mapping[str, Any], event_id: str) -> dict[str, Any]:
    """The spec's fields, in the spec's order; a datetime `completed_at` goes out in UTC."""
    return {
        "event_id": event_id,
        "job_id": job["id"],
        "status": job["status"],
        "stop_reason": job.get("stop_reason"),
        "completed_at": _utc(job.get("completed_at")),
        "metadata": job.get("metadata"),
    }


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON; datetimes as RFC 3339 (UTC ones with "Z", naive ones taken as UTC)."""
    return orjson.dumps(dict(payload), option=orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z)


def _utc(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value
