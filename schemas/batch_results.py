"""The `batches.results` wire message: what a poller saw of one provider batch (docs/contract.md §8)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ProviderStatus = Literal["in_progress", "canceling", "ended"]
ItemResultType = Literal["succeeded", "errored", "canceled", "expired"]
# How an ended batch ended, whatever the provider calls it; decides the batch job's terminal status.
BatchOutcome = Literal["completed", "cancelled", "expired", "failed"]

ITEM_RESULT_TYPES: tuple[ItemResultType, ...] = ("succeeded", "errored", "canceled", "expired")


def item_result_id(batch_job_id: str, custom_id: str, result_type: ItemResultType) -> str:
    """The id of one item's outcome; the same outcome always gets the same id, so re-polls dedupe."""
    return f"{batch_job_id}:{custom_id}:{result_type}"


def poll_result_id(
    batch_job_id: str,
    provider_status: ProviderStatus,
    cancelled: bool,
    final: bool,
    request_counts: RequestCounts | None,
    item_ids: Iterable[str],
    outcome: BatchOutcome | None = None,
) -> str:
    """The id of one message, derived from its content alone (everything but `polled_at`).

    Providers do not promise a stable result order, so two polls of the same ended batch may cut
    their chunks differently; a content digest (not a chunk number) keeps "same id" meaning "same
    content". The digest ignores item order.
    """
    digest = hashlib.sha256()
    digest.update(b"final" if final else b"partial")
    if request_counts is not None:
        digest.update(request_counts.model_dump_json().encode())
    for item_id in sorted(item_ids):
        digest.update(b"\n")
        digest.update(item_id.encode())
    state = f"{provider_status}:cancelled" if cancelled else provider_status
    if outcome in ("expired", "failed"):  # the two outcomes only some providers report
        state = f"{provider_status}:{outcome}"
    return f"{batch_job_id}:{state}:{digest.hexdigest()[:16]}"


class RequestCounts(BaseModel):
    """The provider's per-outcome counters, for progress reporting; not needed to apply results."""

    model_config = ConfigDict(frozen=True)

    processing: int = 0
    succeeded: int = 0
    errored: int = 0
    canceled: int = 0
    expired: int = 0

    @property
    def total(self) -> int:
        return self.processing + self.succeeded + self.errored + self.canceled + self.expired


class ItemResult(BaseModel):
    """One item's final outcome; `custom_id` is the child job's id as sent to the provider."""

    model_config = ConfigDict(frozen=True)

    result_id: str = Field(description="Deterministic: `{batch_job_id}:{custom_id}:{result_type}`.")
    custom_id: str
    result_type: ItemResultType
    result: dict[str, Any] = Field(
        description="The provider's result object verbatim (Anthropic: `{type, message}` or `{type, error}`)."
    )


class BatchPollResult(BaseModel):
    """One message on `batches.results` (key = `batch_job_id`).

    A poll of a batch that has not ended publishes one message: status only, `items=[]`,
    `chunk=0`, `final=True`. A poll of an ended batch publishes its item results in chunks so
    that no message outgrows the broker's size limit: chunks `0..n` in order, every one
    carrying the batch status, the last with `final=True` and `total_items` set (the last
    chunk may have no items). Consumers record each item by its `result_id` (idempotent),
    and may only conclude the batch once a `final` message of an ended batch has been seen:
    items from an interrupted poll are simply published again by the next one.
    """

    model_config = ConfigDict(frozen=True)

    result_id: str = Field(description="Deterministic digest of the content; see `poll_result_id`.")
    batch_job_id: str
    provider: str = Field(description="Provider name, e.g. `anthropic`.")
    provider_batch_id: str
    provider_status: ProviderStatus
    ended: bool = Field(description="The provider has finished with the batch; results are final.")
    cancelled: bool = Field(description="The batch ended after a cancel was initiated.")
    outcome: BatchOutcome | None = Field(
        default=None,
        description="How an ended batch ended (absent: `cancelled` if cancelled, else `completed`).",
    )
    request_counts: RequestCounts | None = None
    items: list[ItemResult] = Field(default_factory=list)
    chunk: int = Field(default=0, ge=0, description="0-based position of this message within one poll.")
    final: bool = Field(default=True, description="Last message of this poll for this batch.")
    total_items: int | None = Field(
        default=None, ge=0, description="On the final message: items published by this poll in all chunks."
    )
    polled_at: datetime

    @model_validator(mode="after")
    def _consistent(self) -> BatchPollResult:
        """Reject messages whose flags contradict each other, so consumers can trust any one flag."""
        if self.ended != (self.provider_status == "ended"):
            raise ValueError("ended must be true exactly when provider_status is 'ended'")
        if self.cancelled and not self.ended:
            raise ValueError("cancelled requires an ended batch")
        if self.outcome is not None and not self.ended:
            raise ValueError("outcome requires an ended batch")
        if self.outcome is not None and self.cancelled != (self.outcome == "cancelled"):
            raise ValueError("cancelled must be true exactly when outcome is 'cancelled'")
        if self.items and not self.ended:
            raise ValueError("item results are only published once the batch has ended")
        if (self.total_items is not None) != (self.final and self.ended):
            raise ValueError("total_items is set exactly on the final message of an ended batch")
        return self

    @property
    def end_state(self) -> BatchOutcome | None:
        """How the batch ended; None while it has not."""
        if not self.ended:
            return None
        return self.outcome or ("cancelled" if self.cancelled else "completed")
