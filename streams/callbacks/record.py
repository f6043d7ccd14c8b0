"""The record_callback command that carries a delivery's final outcome back to the job row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas.bounds import MAX_ERROR_LENGTH
from storage.callback_queue import Claimed


def record_command_id(event_id: str) -> str:
    """Deterministic, so a re-publish after a crash is a duplicate (rule 7), never a second record."""
    return f"callback:{event_id}"


def record_callback_command(
    delivery: Claimed, *, sent_at: datetime, status_code: int | None, error: str | None, attempts: int
) -> dict[str, Any]:
    """The command for the job's single writer; it touches only the callback_* fields, never status."""
    return {
        "command_id": record_command_id(delivery.event_id),
        "type": "record_callback",
        "job_id": delivery.job_id,
        "organization_id": delivery.organization_id,
        "sent_at": sent_at.isoformat(),
        "status_code": status_code,
        # Bounded like every command field (the error text of an exception can be any length).
        "error": error[:MAX_ERROR_LENGTH] if error is not None else None,
        "attempts": attempts,
    }
