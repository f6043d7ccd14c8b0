"""The job-state table's encoding: what a worker writes is what the next one (or a recovery) reads."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime

import orjson
import pytest

from schemas.job import JobState
from schemas.vocabulary import JobType, Status

AT = datetime(2026, 12, 3, 20, 0, 0, 123456, tzinfo=UTC)
NOW = datetime(2026, 12, 4, tzinfo=UTC)


def every_field_set() -> JobState:
    """A state with no field at its default, so a field the decoding drops or mixes up shows."""
    return JobState(
        id="j-1",
        job_type=JobType.BATCH,
        status=Status.FAILED,
        seq=41,
        created_at=AT,
        updated_at=AT.replace(second=1),
        stop_reason="error",
        metadata={"a": [1, 2], "b": {"c": None}},
        organization_id="org-1",
        agent_id="agent-1",
        background=True,
        request_config={"model": "m"},
        batch_id="b-1",
        provider="anthropic",
        provider_batch_id="msgbatch_1",
        callback_url="https://example.test/cb",
        callback_sent_at=AT.replace(second=2),
        callback_status_code=500,
        callback_error="timeout",
        callback_attempts=3,
        timeout_seconds=30.5,
        expires_at=AT.replace(second=3),
        ttft_ns=7,
        total_duration_ns=9,
        completed_at=AT.replace(second=4),
        attempt=2,
        max_attempts=3,
        retry_policy={"max_attempts": 3},
        retry_at=AT.replace(second=5),
        heartbeat_timeout_seconds=10.0,
        last_heartbeat_at=AT.replace(second=6),
        heartbeat_expires_at=AT.replace(second=7),
        heartbeat_partition=4,
        heartbeat_offset=12345,
    )


def test_every_field_survives_the_table() -> None:
    state = every_field_set()
    defaults = JobState(
        id="", job_type=JobType.JOB, status=Status.CREATED, seq=0, created_at=NOW, updated_at=NOW
    )
    unset = [f.name for f in fields(JobState) if getattr(state, f.name) == getattr(defaults, f.name)]
    assert unset == [], "every field must differ from its default for the round trip to mean anything"
    decoded = JobState.from_bytes(state.to_bytes())
    assert decoded == state
    assert (type(decoded.job_type), type(decoded.status), type(decoded.retry_at)) == (
        JobType,
        Status,
        datetime,
    )


def test_a_value_with_a_field_this_release_does_not_know_is_refused() -> None:
    """Not read as something it is not: the caller reports which job's value it could not decode."""
    value = orjson.loads(every_field_set().to_bytes())
    value["priority"] = 5
    with pytest.raises(TypeError, match=r"unknown fields \['priority'\]"):
        JobState.from_bytes(orjson.dumps(value))


def test_a_value_written_in_another_field_order_is_read_by_name() -> None:
    """Positions are trusted only when every field is there in this release's order."""
    state = every_field_set()
    value = orjson.loads(state.to_bytes())
    reordered = dict(reversed(list(value.items())))
    assert JobState.from_bytes(orjson.dumps(reordered)) == state


def test_a_value_without_a_later_field_keeps_its_default() -> None:
    state = every_field_set()
    value = orjson.loads(state.to_bytes())
    del value["heartbeat_offset"], value["retry_at"]
    decoded = JobState.from_bytes(orjson.dumps(value))
    assert (decoded.heartbeat_offset, decoded.retry_at) == (None, None)
    assert decoded.status is Status.FAILED and decoded.updated_at == state.updated_at
