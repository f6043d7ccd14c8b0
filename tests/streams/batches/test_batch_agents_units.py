"""The batch agents' pure parts: reading poll results and events, building notices and dead letters."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import pytest
from structlog.testing import capture_logs

from schemas.batch_results import BatchPollResult
from schemas.parsing import DeadLetter
from storage.queries.batches import ResumeItem
from streams.batches import resume
from streams.batches.results import parse_poll_result
from streams.batches.resume import completed_batch, notice
from streams.kafka.deadletter import dead_letter, report_dead_letter
from streams.kafka.producer import OutRecord
from streams.settings import Topics

VALID = (
    BatchPollResult(
        result_id="r",
        batch_job_id="batch-1",
        provider="anthropic",
        provider_batch_id="msgbatch_1",
        provider_status="in_progress",
        ended=False,
        cancelled=False,
        polled_at=datetime.now(UTC),
    )
    .model_dump_json()
    .encode()
)


def test_a_valid_poll_result_parses() -> None:
    parsed = parse_poll_result(b"batch-1", VALID)
    assert isinstance(parsed, BatchPollResult) and parsed.batch_job_id == "batch-1"


@pytest.mark.parametrize(
    ("key", "value", "code"),
    [
        (b"batch-1", None, "empty_value"),
        (b"batch-1", b"\xff not json", "invalid_json"),
        (b"batch-1", b"[1, 2]", "not_an_object"),
        (b"batch-1", b'{"batch_job_id": "batch-1"}', "invalid_poll_result"),
        (b"batch-2", VALID, "key_mismatch"),
        (None, VALID, "key_mismatch"),
    ],
)
def test_malformed_poll_results_are_dead_letters(key: bytes | None, value: bytes | None, code: str) -> None:
    parsed = parse_poll_result(key, value)
    assert isinstance(parsed, DeadLetter) and parsed.code == code


@dataclass
class Consumed:
    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int


def test_a_dead_letter_keeps_the_record_and_says_why() -> None:
    record = dead_letter("dl", Consumed(b"k", b"v", "batches.results", 3, 42), "invalid_json", "oops")
    assert (record.topic, record.key, record.value) == ("dl", b"k", b"v")
    assert dict(record.headers) == {
        "error.code": b"invalid_json",
        "error.message": b"oops",
        "source.topic": b"batches.results",
        "source.partition": b"3",
        "source.offset": b"42",
    }


def test_a_reported_dead_letter_is_logged_with_its_reason() -> None:
    record = Consumed(b"k", b"v", "batches.results", 3, 42)
    with capture_logs() as logs:
        dead = report_dead_letter("dl", record, DeadLetter("batch_not_found", "no batch"), "batches.x")
    assert dead == dead_letter("dl", record, "batch_not_found", "no batch")
    assert logs == [
        {
            "event": "batches.x",
            "log_level": "warning",
            "code": "batch_not_found",
            "message": "no batch",
            "partition": 3,
            "offset": 42,
        }
    ]


def test_an_invalid_poll_result_says_which_fields_are_wrong() -> None:
    parsed = parse_poll_result(b"batch-1", b'{"batch_job_id": "batch-1", "ended": "soon"}')
    assert isinstance(parsed, DeadLetter) and parsed.code == "invalid_poll_result"
    assert "result_id: Field required" in parsed.message
    assert "ended: Input should be a valid boolean" in parsed.message


def event(to_status: str, job_type: str = "batch", kind: str = "job.status_changed") -> bytes:
    return orjson.dumps(
        {
            "event_id": "b:3",
            "type": kind,
            "job_id": "b",
            "to_status": to_status,
            "job": {"id": "b", "job_type": job_type, "status": to_status},
        }
    )


def test_only_a_batch_entering_completed_resumes() -> None:
    assert completed_batch(event("completed")) == ("b:3", "b")
    assert completed_batch(event("cancelled")) is None
    assert completed_batch(event("completed", job_type="run")) is None
    assert completed_batch(event("completed", kind="job.metadata_updated")) is None
    assert completed_batch(b"not json job.status_changed") is None
    assert completed_batch(None) is None


def test_a_notice_id_depends_only_on_batch_and_item() -> None:
    item = ResumeItem("job-7", "req-7", "errored", "agent-1")
    assert notice("b", item) == {
        "notice_id": "resume:b:req-7",
        "job_id": "job-7",
        "agent_id": "agent-1",
        "batch_id": "b",
        "custom_id": "req-7",
        "result_status": "errored",
    }


class FlakyProducer:
    """Records what is sent; the first `failures` sends raise, as an outage would."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.sent: list[OutRecord] = []

    async def send_all(self, records: Iterable[OutRecord]) -> None:
        batch = list(records)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker unreachable")
        self.sent.extend(batch)


async def test_a_completion_is_resumed_once_but_again_after_a_failed_send(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def items(engine: object, batch_id: str) -> list[ResumeItem]:
        return [ResumeItem("job-1", "req-1", "succeeded", None)]

    monkeypatch.setattr(resume, "resume_items", items)
    producer = FlakyProducer(failures=1)
    handler = resume.ResumeHandler(None, producer, Topics())  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        await handler.handle([event("completed")])
    await handler.handle([event("completed")])  # the retry: not yet seen, so its notices go out
    await handler.handle([event("completed"), event("completed")])  # repeats within the window
    assert [r.key for r in producer.sent] == [b"job-1"]
