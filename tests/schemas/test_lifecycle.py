"""The validator's rules (docs/contract.md §4), exhaustively and without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import product
from typing import Any

import pytest

from schemas.commands import COMMAND_ADAPTER, Command
from schemas.job import JobState
from schemas.lifecycle import Applied, Duplicate, Rejected, decide, transition_allowed
from schemas.vocabulary import TERMINAL, JobType, RejectionCode, Status

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LATER = NOW + timedelta(seconds=5)


def cmd(kind: str, job_id: str = "j1", command_id: str = "c1", **fields: Any) -> Command:
    return COMMAND_ADAPTER.validate_python(
        {"type": kind, "job_id": job_id, "command_id": command_id, **fields}
    )


def job(status: Status = Status.CREATED, **fields: Any) -> JobState:
    state = JobState(
        id="j1",
        job_type=JobType.JOB,
        status=status,
        seq=3,
        created_at=NOW,
        updated_at=NOW,
    )
    for name, value in fields.items():
        setattr(state, name, value)
    return state


# Rule 2 written out as a table, independently of the implementation's boolean formula.
ALLOWED = (
    {(Status.CREATED, t) for t in Status if t is not Status.CREATED}
    | {(Status.PENDING, Status.RUNNING)}
    | {(c, t) for c in (Status.PENDING, Status.RUNNING) for t in TERMINAL}
)


@pytest.mark.parametrize(("current", "target"), list(product(Status, Status)))
def test_rule_2_every_status_pair(current: Status, target: Status) -> None:
    decision = decide(job(current), cmd("transition", status=target.value), LATER)
    assert transition_allowed(current, target) == ((current, target) in ALLOWED)
    if (current, target) in ALLOWED:
        assert isinstance(decision, Applied)
        assert decision.job.status is target
        assert decision.job.seq == 4
        assert decision.event["event_id"] == "j1:4"
        assert decision.event["from_status"] == current.value
        assert decision.event["to_status"] == target.value
        assert decision.event["forced"] is False
    else:
        assert decision == Rejected(RejectionCode.INVALID_TRANSITION, f"{current} -> {target} is not allowed")


def test_allowed_table_has_the_expected_size() -> None:
    # created -> 6 others, pending -> running, pending/running -> 4 terminal each
    assert len(ALLOWED) == 6 + 1 + 8


@pytest.mark.parametrize("target", list(Status))
def test_force_skips_rule_2_and_says_so(target: Status) -> None:
    state = job(Status.COMPLETED, completed_at=NOW)
    decision = decide(state, cmd("transition", status=target.value, force=True), LATER)
    assert isinstance(decision, Applied)
    assert decision.event["forced"] is True
    assert decision.job.status is target
    # rule 5: leaving a terminal status by force clears completed_at; staying terminal keeps it
    assert decision.job.completed_at == (NOW if target.is_terminal else None)


def test_entering_any_terminal_status_sets_completed_at() -> None:
    for target in TERMINAL:
        decision = decide(job(Status.RUNNING), cmd("transition", status=target.value), LATER)
        assert isinstance(decision, Applied)
        assert decision.job.completed_at == LATER


def test_expected_status_mismatch_is_rejected_before_the_guard() -> None:
    decision = decide(
        job(Status.COMPLETED), cmd("transition", status="running", expected_status="pending"), LATER
    )
    assert isinstance(decision, Rejected) and decision.code is RejectionCode.STATUS_MISMATCH


def test_expected_status_match_applies() -> None:
    decision = decide(
        job(Status.PENDING), cmd("transition", status="running", expected_status="pending"), LATER
    )
    assert isinstance(decision, Applied)


def test_cancel_is_a_transition_to_cancelled() -> None:
    decision = decide(job(Status.RUNNING), cmd("cancel"), LATER)
    assert isinstance(decision, Applied)
    assert decision.job.status is Status.CANCELLED and decision.job.stop_reason == "cancelled"
    again = decide(decision.job, cmd("cancel", command_id="c2", stop_reason="user_cancelled"), LATER)
    assert isinstance(again, Rejected) and again.code is RejectionCode.INVALID_TRANSITION


def test_metadata_merge_patch_rfc7386() -> None:
    state = job(metadata={"a": 1, "nested": {"x": 1, "y": 2}, "drop": True})
    patch = {"a": 2, "nested": {"y": None, "z": 3}, "drop": None, "new": [1]}
    decision = decide(state, cmd("update_metadata", metadata=patch), LATER)
    assert isinstance(decision, Applied)
    assert decision.job.metadata == {"a": 2, "nested": {"x": 1, "z": 3}, "new": [1]}
    assert state.metadata == {"a": 1, "nested": {"x": 1, "y": 2}, "drop": True}, "input state was mutated"
    assert decision.job.status is state.status
    assert decision.event["type"] == "job.metadata_updated"


def test_transition_metadata_is_a_patch_too() -> None:
    decision = decide(
        job(Status.RUNNING, metadata={"k": 1}),
        cmd("transition", status="completed", metadata={"k": None, "r": 2}),
        LATER,
    )
    assert isinstance(decision, Applied) and decision.job.metadata == {"r": 2}


def test_duplicate_command_id_is_not_applied_again() -> None:
    """Postgres says which seq a command id produced; the state itself carries no history."""
    assert decide(job(), cmd("transition", command_id="b", status="pending"), LATER, 2) == Duplicate(2)
    assert decide(job(), cmd("create", command_id="a"), LATER, 1) == Duplicate(1)
    assert isinstance(decide(job(), cmd("transition", command_id="b", status="pending"), LATER), Applied)


def test_create_on_unknown_job() -> None:
    decision = decide(None, cmd("create", status="pending", timeout_seconds=10, metadata={"m": 1}), NOW)
    assert isinstance(decision, Applied)
    assert decision.job.seq == 1 and decision.job.status is Status.PENDING
    assert decision.job.expires_at == NOW + timedelta(seconds=10)
    assert decision.event["event_id"] == "j1:1" and decision.event["type"] == "job.created"


def test_create_existing_job_is_rejected() -> None:
    decision = decide(job(), cmd("create", command_id="new"), LATER)
    assert isinstance(decision, Rejected) and decision.code is RejectionCode.JOB_EXISTS


@pytest.mark.parametrize(
    "kind,fields",
    [
        ("transition", {"status": "running"}),
        ("cancel", {}),
        ("update_metadata", {"metadata": {}}),
        ("attach_messages", {"message_ids": ["m"]}),
        ("record_callback", {"attempts": 1}),
    ],
)
def test_commands_on_unknown_jobs_are_rejected_not_found(kind: str, fields: dict[str, Any]) -> None:
    decision = decide(None, cmd(kind, **fields), LATER)
    assert isinstance(decision, Rejected) and decision.code is RejectionCode.JOB_NOT_FOUND


def test_organization_mismatch_is_forbidden() -> None:
    state = job(Status.RUNNING, organization_id="org-a")
    decision = decide(state, cmd("cancel", organization_id="org-b"), LATER)
    assert isinstance(decision, Rejected) and decision.code is RejectionCode.FORBIDDEN
    assert isinstance(decide(state, cmd("cancel", organization_id="org-a"), LATER), Applied)
    assert isinstance(decide(state, cmd("cancel"), LATER), Applied), "internal producers send no organization"


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"status": "completed"}, "a job starts as created, pending or running"),
        ({"items": [{"custom_id": "a", "job_id": "x"}]}, "items are only allowed on a job_type=batch job"),
        ({"job_type": "batch"}, "a batch job needs provider and provider_batch_id"),
        (
            {
                "job_type": "batch",
                "provider": "anthropic",
                "provider_batch_id": "b",
                "items": [{"custom_id": "a", "job_id": "x"}, {"custom_id": "a", "job_id": "y"}],
            },
            "distinct custom_id",
        ),
    ],
)
def test_create_validation_errors(fields: dict[str, Any], message: str) -> None:
    decision = decide(None, cmd("create", **fields), NOW)
    assert isinstance(decision, Rejected) and decision.code is RejectionCode.VALIDATION_ERROR
    assert message in decision.message


def test_attach_messages_dedups_ids_and_keeps_status() -> None:
    decision = decide(job(Status.RUNNING), cmd("attach_messages", message_ids=["m1", "m2", "m1"]), LATER)
    assert isinstance(decision, Applied)
    assert decision.message_ids == ("m1", "m2") and decision.job.status is Status.RUNNING


def test_record_callback_never_changes_status() -> None:
    state = job(Status.COMPLETED, completed_at=NOW)
    decision = decide(state, cmd("record_callback", status_code=500, error="exhausted", attempts=8), LATER)
    assert isinstance(decision, Applied)
    assert decision.job.status is Status.COMPLETED and decision.job.completed_at == NOW
    assert (
        decision.job.callback_status_code,
        decision.job.callback_error,
        decision.job.callback_attempts,
    ) == (500, "exhausted", 8)
    assert decision.event["type"] == "job.callback_recorded"


def test_every_applied_command_increments_seq_by_one() -> None:
    state = None
    commands = [
        cmd("create", command_id="1"),
        cmd("transition", command_id="2", status="pending"),
        cmd("update_metadata", command_id="3", metadata={"a": 1}),
        cmd("attach_messages", command_id="4", message_ids=["m"]),
        cmd("transition", command_id="5", status="running"),
        cmd("cancel", command_id="6"),
    ]
    for expected_seq, command in enumerate(commands, 1):
        decision = decide(state, command, NOW)
        assert isinstance(decision, Applied)
        state = decision.job
        assert state.seq == expected_seq and decision.event["event_id"] == f"j1:{expected_seq}"
    assert state is not None and len(state.to_bytes()) < 1024, "the state does not record its history"


def test_another_organization_learns_nothing_from_duplicates_or_creates() -> None:
    state = job(Status.RUNNING, organization_id="org-a")
    reused = decide(
        state, cmd("transition", command_id="b", status="completed", organization_id="org-b"), LATER, 2
    )
    assert isinstance(reused, Rejected) and reused.code is RejectionCode.FORBIDDEN
    create = decide(state, cmd("create", command_id="x", organization_id="org-b"), LATER)
    assert isinstance(create, Rejected) and create.code is RejectionCode.FORBIDDEN


def test_forbidden_rejection_event_hides_the_job() -> None:
    from schemas.events import rejected_event

    event = rejected_event("j1", "c9", RejectionCode.FORBIDDEN, "no", {}, job(organization_id="org-a"), LATER)
    assert event["job"] is None and event["seq"] is None


def test_forced_reopen_clears_deadline_and_stop_reason() -> None:
    state = job(Status.EXPIRED, completed_at=NOW, expires_at=NOW, stop_reason="timeout_exceeded")
    decision = decide(state, cmd("transition", status="running", force=True), LATER)
    assert isinstance(decision, Applied)
    assert (decision.job.expires_at, decision.job.stop_reason, decision.job.completed_at) == (
        None,
        None,
        None,
    )


def test_metadata_is_bounded_so_events_fit_in_a_kafka_message() -> None:
    state = job(Status.RUNNING, metadata={"a": "x" * 40_000})
    decision = decide(state, cmd("update_metadata", metadata={"b": "y" * 40_000}), LATER)
    assert isinstance(decision, Rejected) and decision.code is RejectionCode.VALIDATION_ERROR
    assert "limit" in decision.message
