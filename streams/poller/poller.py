"""The batch poller: asks providers about running batches and publishes what they say."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import orjson
import structlog

from schemas.batch_results import BatchPollResult, ItemResult, item_result_id, poll_result_id
from storage.queries.batch_cancels import CancelRequest
from storage.queries.batches import RunningBatch
from streams.poller.cancelling import CancelLedger, CancelPropagator
from streams.poller.exceptions import ProviderError
from streams.poller.providers.base import BatchProvider, ProviderBatch
from streams.retry import Backoff, retry
from streams.settings import PollerSettings

log = structlog.get_logger(__name__)

T = TypeVar("T")

# Per-item JSON overhead on top of the provider's result object (ids, field names), for the byte budget.
_ITEM_OVERHEAD_BYTES = 128


FindRunningBatches = Callable[[], Awaitable[Sequence[RunningBatch]]]
Publish = Callable[[BatchPollResult], Awaitable[None]]


@dataclass
class PollRoundReport:
    """What one round did; logged, and handy for tests and the CLI's `--once`."""

    batches: int = 0
    ended: int = 0
    messages: int = 0
    items: int = 0
    failed: int = 0  # left for the next round (provider or publish error)
    skipped: int = 0  # no provider configured under that name
    cancels: int = 0  # cancels the provider answered this round (docs/contract.md §8 "Cancel")
    cancels_deferred: int = 0  # held by another poller, or an outage outlasted the round


@dataclass
class BatchPollOutcome:
    """What polling one batch published."""

    ended: bool = False
    messages: int = 0
    items: int = 0


class Poller:
    """Polls every running batch once per round, at most `poll_concurrency` at a time.

    Dependencies are injected so the loop runs without Kafka or Postgres: `find_running_batches`
    reads the database, `publish` sends one message to `batches.results` (keyed by
    `batch_job_id`) and must not return before the broker has it. The poller never changes a
    batch's state itself: a provider error only means the batch is asked again later.
    With a `cancels` ledger, each round first sends the cancels owed for cancelled batches, then polls
    the running batches and the cancelled ones the provider has not ended yet.
    """

    def __init__(
        self,
        provider: BatchProvider | Mapping[str, BatchProvider],
        find_running_batches: FindRunningBatches,
        publish: Publish,
        settings: PollerSettings,
        *,
        cancels: CancelLedger | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._providers: Mapping[str, BatchProvider] = (
            dict(provider) if isinstance(provider, Mapping) else {provider.name: provider}
        )
        self._find_running_batches = find_running_batches
        self._publish = publish
        self._settings = settings
        self._backoff = Backoff(settings.retry_backoff_s, settings.retry_backoff_max_s)
        self._sleep = sleep
        self._stopping = asyncio.Event()
        self._cancels = cancels
        self._propagator = (
            CancelPropagator(dict(self._providers), cancels, self._retrying, settings.cancel_lease_s)
            if cancels is not None
            else None
        )

    async def poll_once(self) -> PollRoundReport:
        """One round over every running batch; errors in one batch never stop the others."""
        started = time.monotonic()
        semaphore = asyncio.Semaphore(self._settings.poll_concurrency)
        report = PollRoundReport()
        if self._propagator is not None:
            await self._propagate_cancels(self._propagator, semaphore, report)
        found = list(await self._find_running_batches())
        if self._cancels is not None:
            found.extend(await self._cancels.following())
        # Plain row tuples are accepted too; a batch listed twice is polled once.
        batches = list(dict.fromkeys(RunningBatch(*row) for row in found))
        report.batches = len(batches)

        async def bounded(batch: RunningBatch) -> None:
            async with semaphore:
                await self._poll_guarded(batch, report)

        await asyncio.gather(*(bounded(batch) for batch in batches))
        log.info(
            "batches.poll_round",
            batches=report.batches,
            ended=report.ended,
            messages=report.messages,
            items=report.items,
            failed=report.failed,
            skipped=report.skipped,
            cancels=report.cancels,
            cancels_deferred=report.cancels_deferred,
            duration_s=round(time.monotonic() - started, 3),
        )
        return report

    async def run_forever(self) -> None:
        """Poll every `poll_interval_s` (measured start to start) until `stop()`."""
        interval = self._settings.poll_interval_s
        log.info(
            "batches.poller_started",
            providers=sorted(self._providers),
            interval_s=interval,
            concurrency=self._settings.poll_concurrency,
        )
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                await self.poll_once()
            except Exception:
                # Typically the database is unreachable; the next round tries again.
                log.exception("batches.poll_round_failed")
            remaining = max(0.0, interval - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=remaining)
        log.info("batches.poller_stopped")

    def stop(self) -> None:
        """Ask `run_forever` to return after the round in progress."""
        self._stopping.set()

    async def _propagate_cancels(
        self, propagator: CancelPropagator, semaphore: asyncio.Semaphore, report: PollRoundReport
    ) -> None:
        """Every cancel owed, at most `poll_concurrency` at a time; one failing never stops the others."""

        async def bounded(request: CancelRequest) -> None:
            async with semaphore:
                try:
                    answer = await propagator.propagate(request)
                except Exception:  # the ledger's database, typically: the next round tries again
                    log.exception("batches.cancel_failed", **request._asdict())
                    answer = None
            if answer is None:
                report.cancels_deferred += 1
            else:
                report.cancels += 1

        await asyncio.gather(*(bounded(request) for request in await propagator.due()))

    async def _poll_guarded(self, batch: RunningBatch, report: PollRoundReport) -> None:
        provider = self._providers.get(batch.provider)
        if provider is None:
            report.skipped += 1
            log.warning("batches.provider_unknown", **batch._asdict(), known=sorted(self._providers))
            return
        try:
            outcome = await self.poll_batch(provider, batch)
        except ProviderError as exc:
            report.failed += 1
            log.warning(
                "batches.poll_deferred",
                **batch._asdict(),
                error=str(exc),
                retriable=exc.retriable,
                status_code=exc.status_code,
            )
            return
        except Exception:
            report.failed += 1
            log.exception("batches.poll_failed", **batch._asdict())
            return
        report.ended += outcome.ended
        report.messages += outcome.messages
        report.items += outcome.items

    async def poll_batch(self, provider: BatchProvider, batch: RunningBatch) -> BatchPollOutcome:
        """Publish the batch's status, and once it has ended, every item's result.

        Raises ProviderError when retries are exhausted or not worth it; the caller logs it and
        the batch waits for the next round.
        """
        status = await self._retrying(batch, "retrieve", lambda: provider.retrieve(batch.provider_batch_id))
        polled_at = datetime.now(UTC)
        if not status.ended:
            await self._publish(_message(batch, status, [], 0, True, None, polled_at))
            log.debug("batches.polled", **batch._asdict(), status=status.status)
            return BatchPollOutcome(messages=1)
        # A results stream cut short is read again from the start: what was already published is
        # published again with the same item ids, which consumers ignore.
        outcome = await self._retrying(
            batch, "results", lambda: self._publish_results(provider, batch, status, polled_at)
        )
        log.info(
            "batches.results_published",
            **batch._asdict(),
            outcome=status.outcome,
            items=outcome.items,
            messages=outcome.messages,
        )
        return outcome

    async def _publish_results(
        self, provider: BatchProvider, batch: RunningBatch, status: ProviderBatch, polled_at: datetime
    ) -> BatchPollOutcome:
        """Stream the results into chunks bounded by item count and size, publishing in order."""
        max_items, max_bytes = self._settings.chunk_max_items, self._settings.chunk_max_bytes
        outcome = BatchPollOutcome(ended=True)
        chunk: list[ItemResult] = []
        chunk_bytes = 0
        stream = provider.results(batch.provider_batch_id)
        try:
            async for result in stream:
                size = len(orjson.dumps(result.result)) + len(result.custom_id) * 2 + _ITEM_OVERHEAD_BYTES
                if chunk and (len(chunk) >= max_items or chunk_bytes + size > max_bytes):
                    await self._publish(
                        _message(batch, status, chunk, outcome.messages, False, None, polled_at)
                    )
                    outcome.messages += 1
                    chunk, chunk_bytes = [], 0
                chunk.append(
                    ItemResult(
                        result_id=item_result_id(batch.batch_job_id, result.custom_id, result.result_type),
                        custom_id=result.custom_id,
                        result_type=result.result_type,
                        result=result.result,
                    )
                )
                chunk_bytes += size
                outcome.items += 1
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()  # close the HTTP stream now when publishing failed mid-way
        await self._publish(_message(batch, status, chunk, outcome.messages, True, outcome.items, polled_at))
        outcome.messages += 1
        return outcome

    async def _retrying(self, batch: RunningBatch, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Retry retriable provider errors with the shared backoff, a few times.

        Bounded so one sick batch cannot hold a concurrency slot for long: past the budget (or a
        `retry-after` beyond the longest backoff) the error goes up and the next round retries.
        """
        longest = self._backoff.cap_s

        def retriable(exc: Exception, attempt: int) -> bool:
            if not isinstance(exc, ProviderError) or not exc.retriable:
                return False
            return exc.retry_after is None or exc.retry_after <= longest

        def note(exc: Exception, attempt: int, delay: float) -> None:
            log.info(
                "batches.provider_retry",
                **batch._asdict(),
                call=what,
                attempt=attempt,
                delay_s=round(delay, 3),
                error=str(exc),
            )

        return await retry(
            call,
            retriable,
            self._backoff,
            self._settings.retry_attempts,
            retry_after=_retry_after,
            on_retry=note,
            sleep=self._sleep,
        )


def _retry_after(exc: Exception) -> float | None:
    return exc.retry_after if isinstance(exc, ProviderError) else None


def _message(
    batch: RunningBatch,
    status: ProviderBatch,
    items: list[ItemResult],
    chunk: int,
    final: bool,
    total_items: int | None,
    polled_at: datetime,
) -> BatchPollResult:
    return BatchPollResult(
        result_id=poll_result_id(
            batch.batch_job_id,
            status.status,
            status.cancelled,
            final,
            status.request_counts,
            (item.result_id for item in items),
            status.outcome,
        ),
        batch_job_id=batch.batch_job_id,
        provider=batch.provider,
        provider_batch_id=batch.provider_batch_id,
        provider_status=status.status,
        ended=status.ended,
        cancelled=status.cancelled,
        outcome=status.outcome,
        request_counts=status.request_counts,
        items=items,
        chunk=chunk,
        final=final,
        total_items=total_items,
        polled_at=polled_at,
    )
