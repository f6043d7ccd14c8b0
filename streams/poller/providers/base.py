"""What the poller needs from a batch provider, independent of any one vendor's API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from schemas.batch_results import BatchOutcome, ItemResultType, ProviderStatus, RequestCounts


@dataclass(frozen=True)
class ProviderBatch:
    """A provider's view of one batch, reduced to what decides the batch job's state."""

    provider_batch_id: str
    status: ProviderStatus
    cancel_initiated: bool = False
    request_counts: RequestCounts = field(default_factory=RequestCounts)
    ended_at: datetime | None = None
    #: How it ended, for a provider that says so (OpenAI: expired, failed); else derived, see `outcome`.
    end_state: BatchOutcome | None = None

    @property
    def ended(self) -> bool:
        """The provider is done: results are complete and will not change."""
        return self.status == "ended"

    @property
    def cancelled(self) -> bool:
        """Ended because someone cancelled it (its unfinished items come back `canceled`)."""
        return self.outcome == "cancelled"

    @property
    def outcome(self) -> BatchOutcome | None:
        """How the batch ended; None while it has not."""
        if not self.ended:
            return None
        return self.end_state or ("cancelled" if self.cancel_initiated else "completed")

    @property
    def cancel_seen(self) -> bool:
        """The provider has a cancel on record (canceling, or ended after one): none need be sent."""
        return self.cancel_initiated or self.status == "canceling"


@dataclass(frozen=True)
class ProviderItemResult:
    """One item's outcome; `result` is the provider's own result object, kept verbatim."""

    custom_id: str
    result_type: ItemResultType
    result: dict[str, Any]


class BatchProvider(Protocol):
    """A batch API the poller can ask about batches it created earlier.

    Implementations raise `streams.poller.exceptions.ProviderError` for every failure they
    can classify, so the poller can tell "try again" from "not this round".
    """

    @property
    def name(self) -> str:
        """The `provider` value stored on batch jobs, e.g. `anthropic`."""
        ...

    async def retrieve(self, provider_batch_id: str) -> ProviderBatch:
        """The batch's current status."""
        ...

    async def cancel(self, provider_batch_id: str) -> ProviderBatch:
        """Ask the provider to cancel the batch; its answer is the batch as it is now.

        A refusal (the batch has ended, is unknown) is a non-retriable ProviderError.
        """
        ...

    def results(self, provider_batch_id: str) -> AsyncIterator[ProviderItemResult]:
        """Every item's result, streamed; only valid once the batch has ended."""
        ...

    async def aclose(self) -> None:
        """Release connections; the provider is not used afterwards."""
        ...
