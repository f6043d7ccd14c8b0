"""`batches.results` messages built in tests, valid unless a test overrides a field to make them not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.batch_results import BatchPollResult


def poll_result(batch_job_id: str, **fields: Any) -> BatchPollResult:
    """An in-progress poll of `batch_job_id` now; `fields` replace any of its values."""
    values: dict[str, Any] = {
        "result_id": "r",
        "batch_job_id": batch_job_id,
        "provider": "anthropic",
        "provider_batch_id": "msgbatch_1",
        "provider_status": "in_progress",
        "ended": False,
        "cancelled": False,
        "polled_at": datetime.now(UTC),
    }
    return BatchPollResult.model_validate(values | fields)
