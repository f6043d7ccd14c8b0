"""Poll results -> lifecycle commands, without a broker or a database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.batch_results import BatchPollResult, ItemResult, ItemResultType, ProviderStatus, item_result_id
from streams.batches.decisions import BatchView, ChildJob, batch_commands

BATCH = "batch-1"


def item(custom_id: str, kind: ItemResultType = "succeeded") -> ItemResult:
    return ItemResult(
        result_id=item_result_id(BATCH, custom_id, kind), custom_id=custom_id, result_type=kind, result={}
    )


def poll(
    status: ProviderStatus = "ended", items: list[ItemResult] | None = None, final: bool = True, **extra: Any
) -> BatchPollResult:
    ended = status == "ended"
    return BatchPollResult(
        result_id="r",
        batch_job_id=BATCH,
        provider="anthropic",
        provider_batch_id="msgbatch_1",
        provider_status=status,
        ended=ended,
        cancelled=extra.pop("cancelled", False),
        items=items or [],
        final=final,
        total_items=len(items or []) if ended and final else None,
        polled_at=datetime.now(UTC),
        **extra,
    )


def view(status: str = "running", total: int = 2, recorded: int = 2, **children: str | None) -> BatchView:
    items = {custom_id: ChildJob(f"job-{custom_id}", s) for custom_id, s in children.items()}
    return BatchView(status, total, recorded, items)


def summary(commands: list[dict[str, Any]]) -> list[tuple[str, str, str | None, str]]:
    return [(c["job_id"], c["status"], c.get("stop_reason"), c["command_id"]) for c in commands]


@pytest.mark.parametrize("status", ["created", "pending"])
def test_in_progress_moves_a_waiting_batch_to_running(status: str) -> None:
    commands = batch_commands(BATCH, [poll("in_progress"), poll("in_progress")], view(status, 2, 0))
    assert summary(commands) == [(BATCH, "running", None, f"batch-running:{BATCH}")]


@pytest.mark.parametrize("status", ["running", "completed"])
def test_in_progress_leaves_a_running_or_finished_batch_alone(status: str) -> None:
    assert batch_commands(BATCH, [poll("canceling")], view(status, 2, 0)) == []


def test_each_outcome_maps_to_its_terminal_status_and_the_batch_completes() -> None:
    kinds: list[ItemResultType] = ["succeeded", "errored", "canceled", "expired"]
    items = [item(f"c{n}", kind) for n, kind in enumerate(kinds)]
    children: dict[str, str | None] = {f"c{n}": "created" for n in range(4)}
    commands = batch_commands(BATCH, [poll(items=items)], view("running", 4, 4, **children))
    assert summary(commands) == [
        ("job-c0", "completed", None, f"batch-item:{BATCH}:c0:succeeded"),
        ("job-c1", "failed", "provider_error", f"batch-item:{BATCH}:c1:errored"),
        ("job-c2", "cancelled", "cancelled", f"batch-item:{BATCH}:c2:canceled"),
        ("job-c3", "expired", "timeout_exceeded", f"batch-item:{BATCH}:c3:expired"),
        (BATCH, "completed", None, f"batch-end:{BATCH}:completed"),
    ]


def test_the_same_results_give_the_same_commands() -> None:
    results = [poll(items=[item("a")])]
    state = view("running", 1, 1, a="running")
    assert batch_commands(BATCH, results, state) == batch_commands(BATCH, results + results, state)


def test_terminal_children_are_skipped_and_missing_ones_still_get_their_command() -> None:
    commands = batch_commands(
        BATCH, [poll(items=[item("a"), item("b")])], view("running", 2, 2, a="cancelled", b=None)
    )
    assert summary(commands)[0] == ("job-b", "completed", None, f"batch-item:{BATCH}:b:succeeded")
    assert len(commands) == 2


def test_no_conclusion_before_every_item_is_recorded() -> None:
    commands = batch_commands(BATCH, [poll(items=[item("a")])], view("running", 2, 1, a="created"))
    assert [c["job_id"] for c in commands] == ["job-a"]


def test_no_conclusion_before_the_final_message() -> None:
    commands = batch_commands(
        BATCH, [poll(items=[item("a")], final=False)], view("created", 1, 1, a="created")
    )
    assert summary(commands)[-1] == (BATCH, "running", None, f"batch-running:{BATCH}")


def test_a_cancelled_provider_batch_ends_cancelled() -> None:
    commands = batch_commands(
        BATCH, [poll(items=[item("a", "canceled")], cancelled=True)], view("running", 1, 1)
    )
    assert summary(commands) == [(BATCH, "cancelled", "cancelled", f"batch-end:{BATCH}:cancelled")]


def test_a_finished_batch_gets_no_batch_command() -> None:
    assert batch_commands(BATCH, [poll()], view("completed", 0, 0)) == []


@pytest.mark.parametrize(
    ("outcome", "status", "stop_reason"),
    [
        (None, "completed", None),
        ("completed", "completed", None),
        ("cancelled", "cancelled", "cancelled"),
        ("expired", "expired", "timeout_exceeded"),
        ("failed", "failed", "provider_error"),
    ],
)
def test_the_batch_ends_as_the_provider_ended_it(
    outcome: str | None, status: str, stop_reason: str | None
) -> None:
    final = poll("ended", [item("a")], outcome=outcome, cancelled=outcome == "cancelled")
    commands = batch_commands(BATCH, [final], view("running", 1, 1, a="running"))
    assert summary(commands)[-1] == (
        BATCH,
        status,
        stop_reason,
        f"batch-end:{BATCH}:{outcome or 'completed'}",
    )


def test_an_outcome_contradicting_the_flags_is_refused() -> None:
    with pytest.raises(ValueError, match="outcome requires an ended batch"):
        poll("in_progress", outcome="expired")
    with pytest.raises(ValueError, match="cancelled must be true exactly"):
        poll("ended", outcome="cancelled")
    with pytest.raises(ValueError, match="cancelled must be true exactly"):
        poll("ended", outcome="expired", cancelled=True)
