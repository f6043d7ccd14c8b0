"""Rules 15 and 16 on the real stack: retried attempts, heartbeat timeouts, and both across a kill -9."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from streams.devtools.stack.stack import LocalStack
from tests.support.pipeline import Pipeline, base_env, unique

pytestmark = pytest.mark.e2e

FAST = {"initial_backoff_seconds": 1.0, "backoff_multiplier": 2.0, "max_backoff_seconds": 10.0}


@pytest.fixture(scope="module")
async def pipe(stack: LocalStack, logs_dir: Path) -> AsyncIterator[Pipeline]:
    """A pipeline of its own: the kill -9 test takes its worker down."""
    pipeline = Pipeline(base_env(), logs_dir)
    pipeline.start_worker()
    await pipeline.wait_ready()
    yield pipeline
    await pipeline.close()


async def row_where(pipe: Pipeline, job_id: str, timeout_s: float = 30, **expected: Any) -> Any:
    async def matches() -> Any:
        row = await pipe.job_row(job_id)
        return row if row is not None and all(row[k] == v for k, v in expected.items()) else None

    return await pipe.wait_for(matches, timeout_s, f"{job_id} with {expected}")


async def stored_events(pipe: Pipeline, job_id: str) -> list[dict[str, Any]]:
    rows = await pipe.fetch(
        "SELECT seq, type, command_id FROM job_events WHERE job_id = $1 ORDER BY seq", job_id
    )
    return [dict(row) for row in rows]


def at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["occurred_at"])


def summary(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What a user reads off the events topic: type, the move, and the attempt it names."""
    return [
        (e["seq"], e["type"], e.get("to_status"), e.get("stop_reason"), e.get("attempt"), e["job"]["attempt"])
        for e in events
    ]


async def test_a_job_failing_twice_transiently_succeeds_on_its_third_attempt(pipe: Pipeline) -> None:
    job = await pipe.client.create(
        unique("thrice"), status="running", retry_policy={"max_attempts": 3, **FAST}
    )
    await pipe.client.transition(job, "failed", stop_reason="llm_api_error")
    await row_where(pipe, job, status="pending", attempt=2)
    await pipe.client.transition(job, "running")
    await pipe.client.transition(job, "failed", stop_reason="provider_error")
    await row_where(pipe, job, status="pending", attempt=3)
    await pipe.client.transition(job, "running")
    await pipe.client.transition(job, "completed", stop_reason="end_turn")
    row = await row_where(pipe, job, status="completed")
    assert (row["attempt"], row["max_attempts"], row["retry_at"], row["stop_reason"]) == (
        3,
        3,
        None,
        "end_turn",
    )

    events = await pipe.events(job, 8)
    assert summary(events) == [
        (1, "job.created", None, None, None, 1),
        (2, "job.attempt_failed", None, "llm_api_error", 1, 1),
        (3, "job.status_changed", "pending", None, 2, 2),
        (4, "job.status_changed", "running", None, None, 2),
        (5, "job.attempt_failed", None, "provider_error", 2, 2),
        (6, "job.status_changed", "pending", None, 3, 3),
        (7, "job.status_changed", "running", None, None, 3),
        (8, "job.status_changed", "completed", "end_turn", None, 3),
    ]
    assert [e["command_id"] for e in (events[2], events[5])] == [f"retry:{job}:1", f"retry:{job}:2"]
    for failed, repended, ceiling in ((events[1], events[2], 1.0), (events[4], events[5], 2.0)):
        assert failed["job"]["status"] == "running", "a failed attempt does not end the job"
        waited = (at(repended) - at(failed)).total_seconds()
        assert at(repended) >= datetime.fromisoformat(failed["retry_at"]), "re-pended only once due"
        assert ceiling / 2 <= waited < ceiling + 5, f"backoff {waited:.2f}s after attempt {failed['attempt']}"
    assert [e["seq"] for e in await stored_events(pipe, job)] == list(range(1, 9))


async def test_a_reason_the_policy_does_not_name_ends_the_job_at_once(pipe: Pipeline) -> None:
    job = await pipe.client.create(
        unique("final"), status="running", retry_policy={"max_attempts": 5, **FAST}
    )
    await pipe.client.transition(job, "failed", stop_reason="invalid_tool_call")
    row = await row_where(pipe, job, status="failed")
    await asyncio.sleep(2.5)  # longer than the backoff a retry would have had
    assert summary(await pipe.events(job, 2)) == [
        (1, "job.created", None, None, None, 1),
        (2, "job.status_changed", "failed", "invalid_tool_call", None, 1),
    ]
    after = await pipe.job_row(job)
    assert after is not None and (after["seq"], after["attempt"], row["completed_at"]) == (
        2,
        1,
        after["completed_at"],
    )


async def test_a_cancel_during_the_backoff_wins(pipe: Pipeline) -> None:
    policy = {"max_attempts": 3, "initial_backoff_seconds": 3.0, "max_backoff_seconds": 3.0}
    job = await pipe.client.create(unique("cancel"), status="running", retry_policy=policy)
    await pipe.client.transition(job, "failed", stop_reason="llm_api_error")
    await row_where(pipe, job, seq=2)
    await pipe.client.transition(job, "completed")  # the runner's late word: the attempt has failed
    await pipe.client.cancel(job, stop_reason="user_cancelled")
    await row_where(pipe, job, status="cancelled")
    await asyncio.sleep(4)  # the backoff has passed
    row = await pipe.job_row(job)
    assert row is not None and (row["status"], row["seq"], row["retry_at"]) == ("cancelled", 3, None)
    events = await pipe.events(job, 4)
    assert [e["type"] for e in events] == [
        "job.created",
        "job.attempt_failed",
        "job.command_rejected",
        "job.status_changed",
    ]
    assert (
        events[2]["reason"]["code"] == "invalid_transition"
        and "waits for its retry" in events[2]["reason"]["message"]
    )
    assert [e["seq"] for e in await stored_events(pipe, job)] == [1, 2, 3]


async def test_a_runner_that_fails_then_dies_ends_where_its_policy_says(pipe: Pipeline) -> None:
    """The acceptance: a transient failure, then a runner that dies mid-attempt; nothing stays running."""
    policy = {"max_attempts": 2, **FAST}
    job = await pipe.client.create(
        unique("dies"), status="running", retry_policy=policy, heartbeat_timeout_seconds=2.0
    )
    await pipe.client.transition(job, "failed", stop_reason="llm_api_error")
    await row_where(pipe, job, status="pending", attempt=2)
    await pipe.client.transition(job, "running")
    started = time.monotonic()
    while time.monotonic() - started < 4:  # alive for twice its timeout, by heartbeats alone
        await pipe.client.heartbeat(job)
        await asyncio.sleep(0.5)
    alive = await pipe.job_row(job)
    assert alive is not None and alive["status"] == "running" and alive["seq"] == 4, (
        "heartbeats add no events"
    )
    assert (
        alive["last_heartbeat_at"] is not None and alive["heartbeat_expires_at"] > alive["last_heartbeat_at"]
    )
    died = time.monotonic()  # the runner is killed: no more heartbeats
    row = await row_where(pipe, job, status="failed")
    found_after = time.monotonic() - died
    assert 1.0 <= found_after < 10, f"found {found_after:.1f}s after the last heartbeat (timeout 2 s)"
    assert (row["stop_reason"], row["attempt"], row["heartbeat_expires_at"]) == ("heartbeat_timeout", 2, None)
    events = await pipe.events(job, 5)
    assert summary(events) == [
        (1, "job.created", None, None, None, 1),
        (2, "job.attempt_failed", None, "llm_api_error", 1, 1),
        (3, "job.status_changed", "pending", None, 2, 2),
        (4, "job.status_changed", "running", None, None, 2),
        (5, "job.status_changed", "failed", "heartbeat_timeout", None, 2),
    ]
    deadline = datetime.fromisoformat(events[3]["job"]["heartbeat_expires_at"])
    assert events[4]["command_id"].startswith(f"heartbeat-timeout:{job}:2:")
    assert events[4]["command_id"] != f"heartbeat-timeout:{job}:2:{round(deadline.timestamp() * 1e6)}", (
        "the deadline that lapsed is the one the heartbeats moved, not the one set on entering running"
    )

    await pipe.client.heartbeat(job, command_id=f"late-{job}")  # a runner that comes back hears it is over
    rejection = (await pipe.events(job, 6))[5]
    assert rejection["event_id"] == f"{job}:rejected:late-{job}"
    assert (
        rejection["reason"]["code"] == "invalid_transition"
        and "failed, not running" in rejection["reason"]["message"]
    )


async def test_a_silent_runner_is_retried_when_its_policy_names_heartbeat_timeout(pipe: Pipeline) -> None:
    job = await pipe.client.create(
        unique("silent"),
        status="running",
        retry_policy={"max_attempts": 2, **FAST},
        heartbeat_timeout_seconds=1.0,
    )
    row = await row_where(pipe, job, status="pending", attempt=2)
    assert row["stop_reason"] is None and row["heartbeat_expires_at"] is None
    events = await pipe.events(job, 3)
    assert summary(events)[1] == (2, "job.attempt_failed", None, "heartbeat_timeout", 1, 1)


async def test_backoffs_and_heartbeat_deadlines_survive_a_killed_worker(pipe: Pipeline) -> None:
    """All timer state is in Postgres: the worker started after a kill -9 finds what fell due meanwhile."""
    policy = {"max_attempts": 3, "initial_backoff_seconds": 4.0, "max_backoff_seconds": 4.0}
    backing_off = [
        await pipe.client.create(unique("kb"), status="running", retry_policy=policy) for _ in range(5)
    ]
    silent = [
        await pipe.client.create(unique("ks"), status="running", heartbeat_timeout_seconds=3.0)
        for _ in range(5)
    ]
    for job in backing_off:
        await pipe.client.transition(job, "failed", stop_reason="internal_error")
    for job in backing_off:
        await row_where(pipe, job, seq=2)
    pipe.workers[0].kill()
    killed = time.monotonic()
    await asyncio.sleep(5)  # every backoff and every heartbeat deadline passes while no worker runs
    pipe.start_worker()
    for job in backing_off:
        await row_where(pipe, job, timeout_s=90, status="pending", attempt=2)
    for job in silent:
        await row_where(pipe, job, timeout_s=90, status="failed", stop_reason="heartbeat_timeout")
    print(f"all timers settled {time.monotonic() - killed:.1f}s after kill -9")
    events = await pipe.events_many({**{j: 3 for j in backing_off}, **{j: 2 for j in silent}})
    for job in backing_off:
        distinct = {e["event_id"]: e for e in events[job]}
        assert [e["seq"] for e in distinct.values()] == [1, 2, 3]
        assert distinct[f"{job}:3"]["command_id"] == f"retry:{job}:1"
        assert at(distinct[f"{job}:3"]) >= datetime.fromisoformat(distinct[f"{job}:2"]["retry_at"])
        assert [e["seq"] for e in await stored_events(pipe, job)] == [1, 2, 3]
    for job in silent:
        assert [e["seq"] for e in await stored_events(pipe, job)] == [1, 2]
