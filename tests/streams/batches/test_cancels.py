"""The events agent's cancel step: which events owe a provider cancel, and that each is recorded once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from storage.queries.batch_cancels import CancelRequest
from storage.queries.batches import ResumeItem
from streams.batches import cancels
from streams.batches.cancels import CancelRequestHandler, cancel_request
from streams.batches.resume import finished_notices
from streams.settings import Topics


def event(
    to_status: str = "cancelled",
    command_id: str = "user-cancel-1",
    job_type: str = "batch",
    **job: Any,
) -> bytes:
    fields = {"provider": "anthropic", "provider_batch_id": "msgbatch_1"} | job
    return orjson.dumps(
        {
            "event_id": "b:3",
            "type": "job.status_changed",
            "job_id": "b",
            "command_id": command_id,
            "to_status": to_status,
            "job": {"id": "b", "job_type": job_type, "status": to_status, **fields},
        }
    )


def test_a_batch_cancelled_by_a_command_owes_its_provider_a_cancel() -> None:
    assert cancel_request(event()) == CancelRequest("b", "anthropic", "msgbatch_1")
    assert cancel_request(event(command_id="expire:b")) is not None, "any command but the batch's own end"


@pytest.mark.parametrize(
    "value",
    [
        event(command_id="batch-end:b:cancelled"),  # the provider cancelled it: nothing to send
        event(to_status="completed"),
        event(to_status="expired"),
        event(job_type="run"),
        event(provider=None),
        event(provider_batch_id=""),
        b"job.status_changed but not json",
        None,
    ],
)
def test_other_events_owe_nothing(value: bytes | None) -> None:
    assert cancel_request(value) is None


async def test_the_step_records_the_requests_it_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    recorded: list[tuple[list[CancelRequest], datetime]] = []

    async def request_cancels(engine: object, requests: list[CancelRequest], now: datetime) -> int:
        recorded.append((requests, now))
        return len(requests)

    monkeypatch.setattr(cancels, "request_cancels", request_cancels)
    now = datetime(2026, 12, 2, tzinfo=UTC)
    handler = CancelRequestHandler(None, clock=lambda: now)  # type: ignore[arg-type]
    await handler.handle([event(to_status="completed"), None])
    await handler.handle([event(), event(command_id="batch-end:b:cancelled")])
    assert recorded == [([CancelRequest("b", "anthropic", "msgbatch_1")], now)]


def test_a_cancelled_batch_resumes_only_its_finished_items() -> None:
    items = [
        ResumeItem("job-1", "req-1", "succeeded", "agent-1"),
        ResumeItem("job-2", "req-2", "errored", None),
        ResumeItem("job-3", "req-3", "canceled", None),
        ResumeItem("job-4", "req-4", "expired", None),
        ResumeItem("job-5", "req-5", None, None),
    ]
    records = finished_notices(Topics(), "b", items)
    assert [(r.topic, r.key) for r in records] == [("jobs.resume", b"job-1"), ("jobs.resume", b"job-2")]
    assert orjson.loads(records[0].value)["notice_id"] == "resume:b:req-1"
