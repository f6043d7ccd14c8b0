"""The events agent's cancel step: a batch job cancelled by a command -> a cancel owed to its provider.

The poller sends the cancel (streams/poller/cancelling.py); this step only records, durably and before
the event is acknowledged, that one is owed (docs/contract.md §8 "Cancel").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import faust
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.vocabulary import Status
from storage.queries.batch_cancels import CancelRequest, request_cancels
from streams.batches.decisions import END_COMMAND_PREFIX
from streams.batches.resume import batch_status_change
from streams.kafka.runtime import Runtime
from streams.kafka.settlement import Handler
from streams.settings import Settings

log = structlog.get_logger(__name__)


def cancel_request(value: bytes | None) -> CancelRequest | None:
    """The cancel this event calls for: a batch job with a provider batch entering `cancelled`.

    A batch the results agent ended `cancelled` (its `batch-end:` command) was cancelled at the provider
    already, so nothing is owed for it.
    """
    if value is None or b'"cancelled"' not in value or b'"batch"' not in value:
        return None  # most events: no parsing (the callback and resume steps parse status changes too)
    change = batch_status_change(value, Status.CANCELLED)
    if change is None:
        return None
    event, job = change
    provider, provider_batch_id = job.get("provider"), job.get("provider_batch_id")
    command_id = event.get("command_id")
    if not (
        isinstance(provider, str) and provider and isinstance(provider_batch_id, str) and provider_batch_id
    ):
        return None
    if isinstance(command_id, str) and command_id.startswith(END_COMMAND_PREFIX):
        return None
    return CancelRequest(str(job["id"]), provider, provider_batch_id)


class CancelRequestHandler:
    """Records each cancel once (the row's key is the batch job id), so a redelivered event adds nothing."""

    def __init__(
        self, engine: AsyncEngine, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.engine = engine
        self.clock = clock

    async def handle(self, values: Sequence[bytes | None]) -> None:
        requests = [r for r in map(cancel_request, values) if r is not None]
        if requests:
            added = await request_cancels(self.engine, requests, self.clock())
            log.info("batches.cancel_requested", batches=[r.batch_job_id for r in requests], new=added)


def build_handler(runtime: Runtime, settings: Settings) -> Handler:
    """The events agent's cancel step (see streams/worker/downstream.py)."""
    handler = CancelRequestHandler(runtime.engine)

    async def handle(events: Sequence[faust.EventT]) -> None:
        await handler.handle([event.message.value for event in events])

    return handle
