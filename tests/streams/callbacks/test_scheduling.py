"""Which events call for a callback, and the record_callback command an outcome becomes. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from schemas.commands import COMMAND_ADAPTER, RecordCallbackCommand
from storage.callback_queue import Claimed
from streams.callbacks.record import record_callback_command
from streams.callbacks.scheduling import delivery_for_event


def status_changed(to_status: str = "completed", **job: Any) -> bytes:
    job = {
        "id": "j1",
        "status": to_status,
        "stop_reason": "end_turn",
        "completed_at": "2026-01-02T03:04:05.678901+00:00",
        "metadata": {"a": 1},
        "organization_id": "org-1",
        "callback_url": "https://example.com/hook",
        **job,
    }
    return orjson.dumps(
        {
            "event_id": "j1:4",
            "type": "job.status_changed",
            "job_id": "j1",
            "seq": 4,
            "from_status": "running",
            "to_status": to_status,
            "job": job,
        }
    )


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled", "expired"])
def test_a_terminal_status_with_a_url_schedules_a_delivery(status: str) -> None:
    delivery = delivery_for_event(status_changed(status))
    assert delivery is not None
    assert (delivery.event_id, delivery.job_id, delivery.organization_id) == ("j1:4", "j1", "org-1")
    assert delivery.url == "https://example.com/hook"
    assert delivery.payload == {
        "event_id": "j1:4",
        "job_id": "j1",
        "status": status,
        "stop_reason": "end_turn",
        "completed_at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "metadata": {"a": 1},
    }


@pytest.mark.parametrize(
    "value",
    [
        status_changed("running"),
        status_changed(callback_url=None),
        status_changed(callback_url=""),
        status_changed("no-such-status"),
        orjson.dumps({"event_id": "j1:5", "type": "job.callback_recorded", "to_status": "completed"}),
        orjson.dumps({"event_id": "j1:rejected:c", "type": "job.command_rejected", "job": None}),
        orjson.dumps({"type": "job.status_changed", "to_status": "completed", "job": {"callback_url": "x"}}),
        b"not json",
        b"[1, 2]",
        None,
    ],
)
def test_everything_else_schedules_nothing(value: bytes | None) -> None:
    assert delivery_for_event(value) is None


def test_the_record_is_a_valid_command_with_a_deterministic_id() -> None:
    claimed = Claimed("j1:4", "j1", "org-1", "https://example.com/hook", {}, attempts=2)
    sent_at = datetime(2026, 1, 2, tzinfo=UTC)
    document = record_callback_command(claimed, sent_at=sent_at, status_code=503, error="gave up", attempts=3)
    parsed = COMMAND_ADAPTER.validate_python(document)
    assert isinstance(parsed, RecordCallbackCommand)
    assert parsed.command_id == "callback:j1:4"
    assert (parsed.job_id, parsed.organization_id, parsed.sent_at) == ("j1", "org-1", sent_at)
    assert (parsed.status_code, parsed.error, parsed.attempts) == (503, "gave up", 3)
