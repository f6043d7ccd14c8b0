"""The command path end to end: real worker, real Kafka topics, real Postgres rows."""

from __future__ import annotations

import asyncio
from itertools import product

import orjson
import pytest

from schemas.lifecycle import transition_allowed
from schemas.vocabulary import INITIAL, TERMINAL, Status
from tests.support.pipeline import Pipeline, command, ids, unique

pytestmark = pytest.mark.e2e


async def test_lifecycle_to_completion(pipeline: Pipeline) -> None:
    job = unique("job")
    for kind, fields in [
        ("create", {"metadata": {"a": 1}}),
        ("transition", {"status": "pending"}),
        ("transition", {"status": "running"}),
        ("transition", {"status": "completed", "stop_reason": "end_turn"}),
    ]:
        await pipeline.send_raw(job.encode(), command(job, kind, **fields))
    events = await pipeline.events(job, 4)
    assert ids(events) == [f"{job}:{n}" for n in range(1, 5)]
    assert [e["type"] for e in events] == ["job.created"] + ["job.status_changed"] * 3
    assert events[-1]["job"]["status"] == "completed"
    row = await pipeline.job_row(job)
    assert row is not None
    assert (row["status"], row["seq"], row["stop_reason"]) == ("completed", 4, "end_turn")
    assert row["completed_at"] is not None
    stored = await pipeline.fetch("SELECT seq, event_id FROM job_events WHERE job_id = $1 ORDER BY seq", job)
    assert [(r["seq"], r["event_id"]) for r in stored] == [(n, f"{job}:{n}") for n in range(1, 5)]


def _path_to(status: Status) -> list[dict[str, str]]:
    """Commands that bring a new job to `status` along legal transitions."""
    if status in INITIAL:
        return [{"type": "create", "status": status.value}]
    return [{"type": "create", "status": "running"}, {"type": "transition", "status": status.value}]


async def test_every_status_pair_on_the_wire(pipeline: Pipeline) -> None:
    cases = {}
    for current, target in product(Status, Status):
        job = unique(f"pair-{current}-{target}")
        cases[job] = (current, target)
        for step in _path_to(current):
            await pipeline.send_raw(job.encode(), command(job, step.pop("type"), **step))
        await pipeline.send_raw(
            job.encode(), command(job, "transition", command_id=f"{job}-t", status=target.value)
        )

    seen = await pipeline.events_many({job: len(_path_to(c)) + 1 for job, (c, _) in cases.items()})
    for job, (current, target) in cases.items():
        before = len(_path_to(current))
        last = seen[job][-1]
        row = await pipeline.job_row(job)
        assert row is not None
        if transition_allowed(current, target):
            assert last["type"] == "job.status_changed" and last["event_id"] == f"{job}:{before + 1}"
            assert (row["status"], row["seq"]) == (target.value, before + 1)
        else:
            assert last["type"] == "job.command_rejected"
            assert last["event_id"] == f"{job}:rejected:{job}-t"
            assert last["reason"]["code"] == "invalid_transition"
            assert (row["status"], row["seq"]) == (current.value, before), "a rejection changed the row"


async def test_duplicate_command_re_emits_the_same_event(pipeline: Pipeline) -> None:
    job = unique("dup")
    create = command(job, "create", command_id=f"{job}-create")
    transition = command(job, "transition", command_id=f"{job}-run", status="running")
    for value in (create, transition, transition, create):
        await pipeline.send_raw(job.encode(), value)
    events = await pipeline.events(job, 4)
    assert ids(events) == [f"{job}:1", f"{job}:2", f"{job}:2", f"{job}:1"]
    assert events[2] == events[1] and events[3] == events[0], "a duplicate's event differs from the original"
    rows = await pipeline.fetch("SELECT count(*) AS n FROM job_events WHERE job_id = $1", job)
    assert rows[0]["n"] == 2
    row = await pipeline.job_row(job)
    assert row is not None and row["seq"] == 2


async def test_rejections_change_nothing(pipeline: Pipeline) -> None:
    job = unique("rej")
    await pipeline.send_raw(job.encode(), command(job, "create", organization_id="org-a"))
    await pipeline.send_raw(job.encode(), command(job, "create"))
    await pipeline.send_raw(job.encode(), command(job, "cancel", organization_id="org-b"))
    await pipeline.send_raw(
        job.encode(), command(job, "transition", status="running", expected_status="pending")
    )
    await pipeline.send_raw(job.encode(), command(job, "transition", status="completed", stop_reason="nope"))
    missing = unique("missing")
    await pipeline.send_raw(missing.encode(), command(missing, "cancel"))
    events = await pipeline.events(job, 5)
    codes = [e["reason"]["code"] for e in events[1:]]
    assert codes == ["job_exists", "forbidden", "status_mismatch", "validation_error"]
    assert [e["seq"] for e in events[1:]] == [1, None, 1, 1], "a forbidden rejection shows nothing of the job"
    assert events[2]["job"] is None
    row = await pipeline.job_row(job)
    assert row is not None and (row["status"], row["seq"]) == ("created", 1)
    (gone,) = await pipeline.events(missing, 1)
    assert gone["reason"]["code"] == "job_not_found" and await pipeline.job_row(missing) is None


async def test_malformed_input_is_dead_lettered_and_the_partition_keeps_flowing(pipeline: Pipeline) -> None:
    job = unique("dlq")
    bad = [b"\x00\x01 not json", b'{"type": "create", "job_id": "' + job.encode() + b'"', b"[]"]
    for value in bad:
        await pipeline.send_raw(job.encode(), value)  # same key -> same partition as the next command
    await pipeline.send_raw(job.encode(), command(job, "create"))
    (created,) = await pipeline.events(job, 1)
    assert created["type"] == "job.created"
    letters = await pipeline.read_topic(
        pipeline.settings.topics.deadletter, lambda m: m.key == job.encode(), 3
    )
    assert [m.value for m in letters] == bad
    for message in letters:
        headers = {k: v.decode() for k, v in message.headers}
        assert set(headers) == {
            "error.code",
            "error.message",
            "source.topic",
            "source.partition",
            "source.offset",
        }
        assert headers["source.topic"] == pipeline.settings.topics.commands
        assert int(headers["source.offset"]) >= 0
    assert [dict(m.headers)["error.code"].decode() for m in letters] == [
        "invalid_json",
        "invalid_json",
        "not_an_object",
    ]


async def test_timeout_expires_the_job(pipeline: Pipeline) -> None:
    job = unique("expire")
    await pipeline.send_raw(job.encode(), command(job, "create", status="running", timeout_seconds=1))
    events = await pipeline.events(job, 2, timeout_s=30)
    expired = events[1]
    assert expired["to_status"] == "expired" and expired["stop_reason"] == "timeout_exceeded"
    assert expired["command_id"] == f"expire:{job}"
    row = await pipeline.job_row(job)
    assert row is not None and row["status"] == "expired" and row["completed_at"] is not None


async def test_finished_jobs_do_not_expire(pipeline: Pipeline) -> None:
    job = unique("no-expire")
    await pipeline.send_raw(job.encode(), command(job, "create", status="running", timeout_seconds=1))
    await pipeline.send_raw(job.encode(), command(job, "transition", status="completed"))
    await asyncio.sleep(3)
    events = await pipeline.events(job, 2, timeout_s=10)
    assert [e["type"] for e in events] == ["job.created", "job.status_changed"]
    row = await pipeline.job_row(job)
    assert row is not None and row["status"] == "completed" and row["seq"] == 2


async def test_messages_and_metadata(pipeline: Pipeline) -> None:
    job = unique("msgs")
    await pipeline.send_raw(job.encode(), command(job, "create", metadata={"keep": 1, "drop": 2}))
    await pipeline.send_raw(job.encode(), command(job, "attach_messages", message_ids=["m1", "m2"]))
    await pipeline.send_raw(job.encode(), command(job, "attach_messages", message_ids=["m2", "m3"]))
    await pipeline.send_raw(job.encode(), command(job, "update_metadata", metadata={"drop": None, "add": 3}))
    events = await pipeline.events(job, 4)
    assert [e["type"] for e in events] == [
        "job.created",
        "job.messages_attached",
        "job.messages_attached",
        "job.metadata_updated",
    ]
    rows = await pipeline.fetch(
        "SELECT message_id FROM job_messages WHERE job_id = $1 ORDER BY message_id", job
    )
    assert [r["message_id"] for r in rows] == ["m1", "m2", "m3"]
    row = await pipeline.job_row(job)
    assert row is not None and orjson.loads(row["metadata"]) == {"keep": 1, "add": 3}


def test_terminal_set_is_the_spec_s() -> None:
    assert {s.value for s in TERMINAL} == {"completed", "failed", "cancelled", "expired"}
