"""What poll results mean for the lifecycle: the commands they imply, with deterministic ids. No I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from schemas.batch_results import BatchOutcome, BatchPollResult, ItemResult, ItemResultType
from schemas.vocabulary import TERMINAL, Status, StopReason

# Provider outcome -> the child job's terminal status and why (docs/contract.md §8).
ITEM_OUTCOMES: dict[ItemResultType, tuple[Status, StopReason | None]] = {
    "succeeded": (Status.COMPLETED, None),
    "errored": (Status.FAILED, StopReason.PROVIDER_ERROR),
    "canceled": (Status.CANCELLED, StopReason.CANCELLED),
    "expired": (Status.EXPIRED, StopReason.TIMEOUT_EXCEEDED),
}
# How the provider ended the batch -> the batch job's terminal status and why (docs/contract.md §8).
BATCH_OUTCOMES: dict[BatchOutcome, tuple[Status, StopReason | None]] = {
    "completed": (Status.COMPLETED, None),
    "cancelled": (Status.CANCELLED, StopReason.CANCELLED),
    "expired": (Status.EXPIRED, StopReason.TIMEOUT_EXCEEDED),
    "failed": (Status.FAILED, StopReason.PROVIDER_ERROR),
}
_TERMINAL_VALUES = frozenset(s.value for s in TERMINAL)
_BEFORE_RUNNING = frozenset({Status.CREATED.value, Status.PENDING.value})
# The batch's own conclusion from the provider's answer; every batch-end command id starts so.
END_COMMAND_PREFIX = "batch-end:"


class ChildJob(NamedTuple):
    """A batch item's child job; `job_status` is None when no such job exists."""

    job_id: str
    job_status: str | None


@dataclass(frozen=True)
class BatchView:
    """What Postgres says about a batch after this round's results were stored."""

    status: str
    total_items: int
    recorded_items: int
    items: Mapping[str, ChildJob]  # custom_id -> child job, for the items in this round's results

    @property
    def all_recorded(self) -> bool:
        return self.recorded_items == self.total_items


def _transition(
    job_id: str, command_id: str, status: Status, stop_reason: StopReason | None
) -> dict[str, Any]:
    command: dict[str, Any] = {
        "command_id": command_id,
        "type": "transition",
        "job_id": job_id,
        "status": status.value,
    }
    if stop_reason is not None:
        command["stop_reason"] = stop_reason.value
    return command


def item_command(batch_job_id: str, job_id: str, item: ItemResult) -> dict[str, Any]:
    """The child's terminal transition; the id depends only on the outcome, so a re-poll is a duplicate."""
    status, stop_reason = ITEM_OUTCOMES[item.result_type]
    command_id = f"batch-item:{batch_job_id}:{item.custom_id}:{item.result_type}"
    return _transition(job_id, command_id, status, stop_reason)


def running_command(batch_job_id: str) -> dict[str, Any]:
    return _transition(batch_job_id, f"batch-running:{batch_job_id}", Status.RUNNING, None)


def end_command(batch_job_id: str, outcome: BatchOutcome) -> dict[str, Any]:
    """The batch job's conclusion; the id names the outcome, so the same outcome is always a duplicate."""
    status, stop_reason = BATCH_OUTCOMES[outcome]
    return _transition(batch_job_id, f"{END_COMMAND_PREFIX}{batch_job_id}:{outcome}", status, stop_reason)


def batch_commands(
    batch_job_id: str,
    results: Sequence[BatchPollResult],
    view: BatchView,
    unanswered: Sequence[ItemResult] = (),
) -> list[dict[str, Any]]:
    """Commands for one batch's results, in the order they should be applied.

    Children already terminal are skipped: re-polls would only produce duplicates (or, for a child
    someone cancelled, rejections). A child that does not exist still gets its command, so the
    `job_not_found` rejection on the events topic records the orphaned result. The batch concludes
    on the final message of an ended poll once every item has a result in Postgres; until then a
    batch still `created`/`pending` is moved to `running`. `unanswered` are the items the provider
    ended the batch without (recorded as errored), so their children fail rather than wait for ever.
    """
    commands: dict[str, dict[str, Any]] = {}  # by command_id: several polls in one round agree
    for item in [*(item for result in results for item in result.items), *unanswered]:
        child = view.items.get(item.custom_id)
        if child is None or child.job_status in _TERMINAL_VALUES:
            continue
        command = item_command(batch_job_id, child.job_id, item)
        commands.setdefault(command["command_id"], command)
    if view.status in _TERMINAL_VALUES:
        return list(commands.values())
    concluding = next((r for r in reversed(results) if r.ended and r.final), None)
    if concluding is not None and concluding.end_state is not None and view.all_recorded:
        command = end_command(batch_job_id, concluding.end_state)
    elif view.status in _BEFORE_RUNNING:
        command = running_command(batch_job_id)
    else:
        return list(commands.values())
    commands.setdefault(command["command_id"], command)
    return list(commands.values())
