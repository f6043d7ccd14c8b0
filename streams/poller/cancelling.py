"""Cancel propagation (docs/contract.md §8 "Cancel"): one cancel per cancelled batch reaches its provider.

`judge` decides from what the provider says about the batch; `CancelPropagator` acts: it claims the
batch's cancel in the ledger (one poller at a time, on any host), asks the provider about the batch,
sends the cancel only when the provider has none on record, and records the answer once. A poller that
dies after sending leaves the claim to run out; the next one finds the cancel on record and sends none.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import structlog

from storage.queries.batch_cancels import CancelOutcome, CancelRequest
from storage.queries.batches import RunningBatch
from streams.poller.exceptions import ProviderError
from streams.poller.providers.base import BatchProvider, ProviderBatch

log = structlog.get_logger(__name__)

T = TypeVar("T")
# Runs a provider call under the poller's shared, bounded retry policy (Poller._retrying).
Retrying = Callable[[RunningBatch, str, Callable[[], Awaitable[T]]], Awaitable[T]]

_NOT_FOUND = 404


class CancelLedger(Protocol):
    """Where cancels are owed and answered (storage.queries.batch_cancels.PostgresCancelLedger)."""

    async def due(self) -> Sequence[CancelRequest]: ...

    async def claim(self, batch_job_id: str, lease_s: float) -> bool: ...

    async def record(
        self, batch_job_id: str, outcome: CancelOutcome, error: str | None, *, finished: bool
    ) -> None: ...

    async def release(self, batch_job_id: str, error: str) -> None: ...

    async def following(self) -> Sequence[RunningBatch]: ...


@dataclass(frozen=True)
class CancelAnswer:
    """What the provider's answer means: the outcome to record, and whether anything is left to follow."""

    outcome: CancelOutcome
    error: str | None = None
    finished: bool = False  # the provider will publish nothing more for this batch


def judge(batch: ProviderBatch) -> CancelAnswer | None:
    """The answer already given when the provider has a cancel on record or has ended; None: send one."""
    if batch.cancel_seen:
        return CancelAnswer("acknowledged")
    if batch.ended:
        return CancelAnswer("already_ended")
    return None


def judge_refusal(error: ProviderError, batch: ProviderBatch | None) -> CancelAnswer:
    """A cancel the provider turned down (not an outage): recorded, never sent again.

    An unknown batch leaves nothing to follow; one that has ended (the refusal's likely reason) still has
    results to collect; any other refusal is kept with its error, and the batch is followed until it ends.
    """
    if error.status_code == _NOT_FOUND:
        return CancelAnswer("refused", str(error), finished=True)
    known = judge(batch) if batch is not None else None
    return CancelAnswer(known.outcome if known is not None else "refused", str(error))


class CancelPropagator:
    """Sends the cancels the ledger says are owed; every outage is retried, every answer recorded once."""

    def __init__(
        self,
        providers: dict[str, BatchProvider],
        ledger: CancelLedger,
        retrying: Retrying[CancelAnswer],
        lease_s: float,
    ) -> None:
        self._providers = providers
        self._ledger = ledger
        self._retrying = retrying
        self._lease_s = lease_s

    async def due(self) -> Sequence[CancelRequest]:
        return [r for r in await self._ledger.due() if r.provider in self._providers]

    async def propagate(self, request: CancelRequest) -> CancelAnswer | None:
        """Claim, ask, record; None when another poller holds the claim or the outage outlasted the round."""
        if not await self._ledger.claim(request.batch_job_id, self._lease_s):
            return None
        batch = RunningBatch(*request)
        provider = self._providers[request.provider]
        try:
            answer = await self._retrying(batch, "cancel", lambda: self._attempt(provider, request))
        except ProviderError as exc:  # an outage past this round's retries: the claim goes back
            await self._ledger.release(request.batch_job_id, str(exc))
            log.warning("batches.cancel_deferred", **batch._asdict(), error=str(exc))
            return None
        await self._ledger.record(
            request.batch_job_id, answer.outcome, answer.error, finished=answer.finished
        )
        log.info("batches.cancel_answered", **batch._asdict(), outcome=answer.outcome, error=answer.error)
        return answer

    async def _attempt(self, provider: BatchProvider, request: CancelRequest) -> CancelAnswer:
        """One try: ask first, so a cancel an earlier try (or a dead poller) got through is not sent again."""
        before = await _look(provider, request.provider_batch_id)
        if isinstance(before, CancelAnswer):
            return before
        known = judge(before) if before is not None else None
        if known is not None:
            return known
        try:
            await provider.cancel(request.provider_batch_id)
        except ProviderError as exc:
            if exc.retriable:
                raise
            after = await _look(provider, request.provider_batch_id)
            return judge_refusal(exc, after if isinstance(after, ProviderBatch) else None)
        finally:
            log.info("batches.cancel_sent", batch_job_id=request.batch_job_id, **_ids(request))
        return CancelAnswer("acknowledged")


async def _look(provider: BatchProvider, provider_batch_id: str) -> ProviderBatch | CancelAnswer | None:
    """The batch as the provider has it; an answer for an unknown batch; None when it cannot tell (not an
    outage: the cancel itself is then the judge)."""
    try:
        return await provider.retrieve(provider_batch_id)
    except ProviderError as exc:
        if exc.retriable:
            raise
        if exc.status_code == _NOT_FOUND:
            return judge_refusal(exc, None)
        return None


def _ids(request: CancelRequest) -> dict[str, str]:
    return {"provider": request.provider, "provider_batch_id": request.provider_batch_id}
