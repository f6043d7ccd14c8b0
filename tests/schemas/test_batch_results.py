"""The `batches.results` wire model's invariants and ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.batch_results import BatchPollResult, ItemResult, RequestCounts, item_result_id, poll_result_id

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def message(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "result_id": "r",
        "batch_job_id": "job-1",
        "provider": "anthropic",
        "provider_batch_id": "msgbatch_1",
        "provider_status": "ended",
        "ended": True,
        "cancelled": False,
        "items": [],
        "chunk": 0,
        "final": True,
        "total_items": 0,
        "polled_at": NOW,
    }
    return base | overrides


def test_a_message_round_trips_through_json() -> None:
    item = ItemResult(
        result_id=item_result_id("job-1", "c1", "errored"),
        custom_id="c1",
        result_type="errored",
        result={
            "type": "errored",
            "error": {"type": "error", "error": {"type": "api_error", "message": "x"}},
        },
    )
    original = BatchPollResult.model_validate(message(items=[item], total_items=1))
    assert BatchPollResult.model_validate_json(original.model_dump_json()) == original
    assert item.result_id == "job-1:c1:errored"


@pytest.mark.parametrize(
    "overrides",
    [
        {"ended": False},  # ended must match provider_status
        {"provider_status": "in_progress", "ended": False, "cancelled": True, "total_items": None},
        {
            "provider_status": "canceling",
            "ended": False,
            "total_items": None,
            "items": [
                {
                    "result_id": "x",
                    "custom_id": "c",
                    "result_type": "canceled",
                    "result": {"type": "canceled"},
                }
            ],
        },
        {"final": False},  # total_items only on the final message
        {"total_items": None},
        {"provider_status": "done", "ended": False, "total_items": None},
        {"items": [{"result_id": "x", "custom_id": "c", "result_type": "failed", "result": {}}]},
    ],
)
def test_contradictory_messages_are_rejected(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        BatchPollResult.model_validate(message(**overrides))


def test_poll_result_ids_depend_on_content_not_order() -> None:
    counts = RequestCounts(succeeded=2)
    one = poll_result_id("job-1", "ended", False, True, counts, ["a", "b"])
    assert one == poll_result_id("job-1", "ended", False, True, counts, ["b", "a"])
    assert one.startswith("job-1:ended:")
    others = {
        poll_result_id("job-1", "ended", False, False, counts, ["a", "b"]),
        poll_result_id("job-1", "ended", True, True, counts, ["a", "b"]),
        poll_result_id("job-1", "ended", False, True, counts, ["a"]),
        poll_result_id("job-1", "ended", False, True, RequestCounts(succeeded=1), ["a", "b"]),
        poll_result_id("job-2", "ended", False, True, counts, ["a", "b"]),
    }
    assert one not in others and len(others) == 5
