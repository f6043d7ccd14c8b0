"""Rules 15 (retry policies) and 16 (heartbeats) in the validator, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from schemas.commands import COMMAND_ADAPTER, Command
from schemas.job import JobState
from schemas.lifecycle import Applied, Decision, Duplicate, Ignored, Rejected, Touched, decide
from schemas.retries import backoff_ceiling, backoff_seconds
from schemas.vocabulary import RejectionCode, Status

NOW = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = {
    "max_attempts": 3,
    "initial_backoff_seconds": 10,
    "backoff_multiplier": 3,
    "max_backoff_seconds": 60,
    "retryable_stop_reasons": ["llm_api_error", "heartbeat_timeout"],
}


def cmd(kind: str, command_id: str = "c", **fields: Any) -> Command:
    return COMMAND_ADAPTER.validate_python({"type": kind, "job_id": "j1", "command_id": command_id, **fields})


def applied(decision: Decision) -> JobState:
    assert isinstance(decision, Applied), decision
    return decision.job


def running(policy: dict[str, Any] | None = POLICY, **fields: Any) -> JobState:
    create = cmd("create", "c0", status="running", retry_policy=policy, **fields)
    return applied(decide(None, create, NOW))


def fail(job: JobState, reason: str = "llm_api_error", at: datetime = NOW) -> Decision:
    return decide(job, cmd("transition", f"fail-{job.seq}", status="failed", stop_reason=reason), at)


def test_a_create_shows_its_attempts_and_the_whole_policy() -> None:
    job = running({"max_attempts": 4})
    assert (job.attempt, job.max_attempts) == (1, 4)
    assert job.retry_policy == {
        "max_attempts": 4,
        "initial_backoff_seconds": 1.0,
        "backoff_multiplier": 2.0,
        "max_backoff_seconds": 300.0,
        "retryable_stop_reasons": ["llm_api_error", "provider_error", "internal_error", "heartbeat_timeout"],
    }
    assert (running(None).attempt, running(None).max_attempts) == (1, 1)


def test_a_retryable_failure_with_attempts_left_is_an_attempt_failed_not_the_end() -> None:
    job = running()
    decision = fail(job)
    new = applied(decision)
    assert decision.event["type"] == "job.attempt_failed"
    assert decision.event["attempt"] == 1 and decision.event["stop_reason"] == "llm_api_error"
    assert new.status is Status.RUNNING and new.completed_at is None and new.seq == job.seq + 1
    assert new.retry_at is not None and decision.event["retry_at"] == new.retry_at.isoformat()
    assert timedelta(seconds=5) <= new.retry_at - NOW <= timedelta(seconds=10)  # [ceiling / 2, ceiling]
    assert applied(fail(job)).retry_at == new.retry_at, "the jitter is the same on every decision"


def test_the_backoff_grows_by_the_multiplier_up_to_the_cap() -> None:
    assert [backoff_ceiling(POLICY, n) for n in (1, 2, 3, 4)] == [10, 30, 60, 60]
    steep = {**POLICY, "backoff_multiplier": 10, "max_backoff_seconds": 86400}
    for attempt in range(1, 101):  # the bounds' worst case stays a finite number within the cap
        ceiling = backoff_ceiling(steep, attempt)
        assert 0 < ceiling <= 86400
        assert ceiling / 2 <= backoff_seconds(steep, "j1", attempt) <= ceiling
    spread = {backoff_seconds(POLICY, f"job-{n}", 1) for n in range(50)}
    assert len(spread) == 50 and all(5 <= s <= 10 for s in spread), "jobs spread out over the upper half"


def test_the_retry_re_pends_the_next_attempt_and_a_repeat_is_a_duplicate() -> None:
    waiting = applied(fail(running()))
    decision = decide(waiting, cmd("retry", "retry:j1:1", attempt=1), NOW + timedelta(seconds=10))
    pending = applied(decision)
    assert decision.event["type"] == "job.status_changed"
    assert (decision.event["from_status"], decision.event["to_status"]) == ("running", "pending")
    assert decision.event["attempt"] == 2 and pending.attempt == 2
    assert pending.status is Status.PENDING and pending.retry_at is None and pending.stop_reason is None
    assert isinstance(decide(pending, cmd("retry", "retry:j1:1", attempt=1), NOW, applied_as=5), Duplicate)
    stale = decide(pending, cmd("retry", "other", attempt=1), NOW)
    assert isinstance(stale, Rejected) and stale.code is RejectionCode.INVALID_TRANSITION


def test_the_last_attempt_ends_the_job_failed() -> None:
    job = running()
    for attempt in (1, 2):
        job = applied(fail(job))
        job = applied(decide(job, cmd("retry", f"retry:j1:{attempt}", attempt=attempt), NOW))
        job = applied(decide(job, cmd("transition", f"run-{attempt}", status="running"), NOW))
    assert job.attempt == 3
    decision = fail(job)
    assert decision.event["type"] == "job.status_changed" and decision.event["to_status"] == "failed"
    assert applied(decision).completed_at == NOW and applied(decision).retry_at is None


@pytest.mark.parametrize("reason", ["invalid_tool_call", None])
def test_a_failure_the_policy_does_not_name_ends_the_job_at_once(reason: str | None) -> None:
    decision = (
        fail(running(), reason) if reason else decide(running(), cmd("transition", status="failed"), NOW)
    )
    assert applied(decision).status is Status.FAILED and decision.event["type"] == "job.status_changed"


def test_without_a_policy_rule_2_is_as_it_was() -> None:
    assert applied(fail(running(None))).status is Status.FAILED


@pytest.mark.parametrize("target", ["completed", "failed", "running", "pending"])
def test_during_the_backoff_only_cancel_or_expiry_end_the_job(target: str) -> None:
    waiting = applied(fail(running()))
    refused = decide(waiting, cmd("transition", "late", status=target, stop_reason="llm_api_error"), NOW)
    assert isinstance(refused, Rejected) and refused.code is RejectionCode.INVALID_TRANSITION
    assert "waits for its retry" in refused.message
    forced = applied(decide(waiting, cmd("transition", "op", status=target, force=True), NOW))
    assert forced.retry_at is None and forced.status is Status(target), "force is the operator's repair"


def test_a_cancel_during_the_backoff_wins_and_the_due_retry_is_rejected() -> None:
    waiting = applied(fail(running()))
    cancelled = applied(decide(waiting, cmd("cancel", "stop"), NOW))
    assert cancelled.status is Status.CANCELLED and cancelled.retry_at is None
    retry = decide(cancelled, cmd("retry", "retry:j1:1", attempt=1), NOW + timedelta(seconds=10))
    assert isinstance(retry, Rejected) and retry.code is RejectionCode.INVALID_TRANSITION
    expired = applied(decide(waiting, cmd("transition", "expire:j1", status="expired"), NOW))
    assert expired.status is Status.EXPIRED and expired.retry_at is None


def test_a_heartbeat_moves_the_deadline_without_a_seq_or_an_event() -> None:
    job = running(heartbeat_timeout_seconds=30)
    assert job.heartbeat_expires_at == NOW + timedelta(seconds=30), (
        "the first heartbeat is due in one timeout"
    )
    later = NOW + timedelta(seconds=20)
    decision = decide(job, cmd("heartbeat", "h1"), later)
    assert isinstance(decision, Touched)
    assert decision.job.seq == job.seq and decision.job.updated_at == job.updated_at
    assert decision.job.last_heartbeat_at == later
    assert decision.job.heartbeat_expires_at == later + timedelta(seconds=30)
    assert job.heartbeat_expires_at == NOW + timedelta(seconds=30), "the state it was given is not mutated"


@pytest.mark.parametrize("status", ["created", "pending"])
def test_a_heartbeat_on_a_job_that_is_not_running_is_rejected(status: str) -> None:
    job = applied(decide(None, cmd("create", status=status, heartbeat_timeout_seconds=5), NOW))
    assert job.heartbeat_expires_at is None, "the clock starts when the job runs"
    refused = decide(job, cmd("heartbeat", "h"), NOW)
    assert isinstance(refused, Rejected) and refused.code is RejectionCode.INVALID_TRANSITION
    assert f"the job is {status}, not running" in refused.message
    started = applied(decide(job, cmd("transition", "go", status="running"), NOW))
    assert started.heartbeat_expires_at == NOW + timedelta(seconds=5)


def test_leaving_running_stops_the_heartbeat_clock() -> None:
    job = running(heartbeat_timeout_seconds=5)
    assert applied(decide(job, cmd("transition", status="completed"), NOW)).heartbeat_expires_at is None
    waiting = applied(fail(job, "heartbeat_timeout"))
    assert waiting.heartbeat_expires_at is None and waiting.stop_reason == "heartbeat_timeout"
    refused = decide(waiting, cmd("heartbeat", "h"), NOW)
    assert isinstance(refused, Rejected) and "waiting to retry attempt 1" in refused.message


def test_a_heartbeat_read_again_after_a_crash_changes_nothing_whatever_the_job_became() -> None:
    job = running(heartbeat_timeout_seconds=30)
    beat = decide(job, cmd("heartbeat", "h1"), NOW, position=(2, 100))
    assert isinstance(beat, Touched) and (beat.job.heartbeat_partition, beat.job.heartbeat_offset) == (2, 100)
    done = applied(decide(beat.job, cmd("transition", "done", status="completed"), NOW))
    for offset in (99, 100):  # redelivered: read before the state's last heartbeat
        assert isinstance(decide(done, cmd("heartbeat", "h1"), NOW, position=(2, offset)), Ignored)
    fresh = decide(done, cmd("heartbeat", "h2"), NOW, position=(2, 101))
    assert isinstance(fresh, Rejected), "a heartbeat sent after the job ended is told so"
    assert isinstance(decide(done, cmd("heartbeat", "h3"), NOW, position=(3, 5)), Rejected)


def test_a_lapsed_deadline_fails_the_attempt_as_a_runner_failure_would() -> None:
    job = running(heartbeat_timeout_seconds=5)
    deadline = job.heartbeat_expires_at
    assert deadline is not None
    decision = decide(job, cmd("heartbeat_timeout", "t1", deadline=deadline.isoformat()), NOW)
    assert (
        decision.event["type"] == "job.attempt_failed"
        and decision.event["stop_reason"] == "heartbeat_timeout"
    )
    alone = running(None, heartbeat_timeout_seconds=5)
    ended = decide(alone, cmd("heartbeat_timeout", "t1", deadline=deadline.isoformat()), NOW)
    assert applied(ended).status is Status.FAILED and applied(ended).stop_reason == "heartbeat_timeout"


def test_a_heartbeat_that_moved_the_deadline_makes_the_timeout_stale() -> None:
    job = running(heartbeat_timeout_seconds=5)
    seen = job.heartbeat_expires_at
    assert seen is not None
    beat = decide(job, cmd("heartbeat", "h1"), NOW + timedelta(seconds=4))
    assert isinstance(beat, Touched)
    stale = decide(
        beat.job, cmd("heartbeat_timeout", "t1", deadline=seen.isoformat()), NOW + timedelta(seconds=5)
    )
    assert isinstance(stale, Rejected) and stale.code is RejectionCode.INVALID_TRANSITION
    assert "is not the job's" in stale.message


def test_a_table_value_written_before_retries_existed_reads_as_a_single_attempt() -> None:
    """The job-state changelog keeps values of the previous release; they lack rules 15 and 16's fields."""
    old = orjson.loads(running(None).to_bytes())
    for name in ("attempt", "max_attempts", "retry_policy", "retry_at", "heartbeat_timeout_seconds"):
        old.pop(name)
    for name in ("last_heartbeat_at", "heartbeat_expires_at", "heartbeat_partition", "heartbeat_offset"):
        old.pop(name)
    state = JobState.from_bytes(orjson.dumps(old))
    assert (state.attempt, state.max_attempts, state.retry_at, state.heartbeat_expires_at) == (
        1,
        1,
        None,
        None,
    )
