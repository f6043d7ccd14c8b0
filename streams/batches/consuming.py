"""The batch agents' consuming loop: take a batch of events, retry until handled, only then ack."""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

import faust
import structlog

from streams.processor import BACKOFF_BASE_S, BACKOFF_CAP_S
from streams.settings import Settings

log = structlog.get_logger(__name__)

Handler = Callable[[Sequence[faust.EventT]], Awaitable[None]]


async def consume_durably(
    stream: faust.StreamT[bytes], settings: Settings, handle: Handler, name: str, max_events: int
) -> None:
    """Like the command agent: nothing is acked (so committed) before `handle` has succeeded."""
    batches = cast(faust.Stream[bytes], stream).take_events(max_events, within=settings.batch_within_s)
    async for events in batches:  # (StreamT's interface lacks take_events; Faust's Stream has it)
        # take_events acks in a `finally`, even when the worker stops mid-batch; the extra
        # reference keeps those events uncommitted, so the next owner of the partition redoes them.
        for event in events:
            event.message.incref()
        await retry_until_done(functools.partial(handle, events), name)
        for event in events:
            event.ack()


async def retry_until_done(call: Callable[[], Awaitable[None]], name: str) -> None:
    """Postgres or Kafka away: the partition waits, backing off with full jitter, and resumes."""
    attempt = 0
    while True:
        try:
            await call()
            return
        except Exception as exc:
            delay = random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))
            log.warning(
                f"{name}.retry",
                error=f"{type(exc).__name__}: {exc}",
                attempt=attempt + 1,
                retry_in_s=round(delay, 3),
                exc_info=attempt % 10 == 0,
            )
            await asyncio.sleep(delay)
        attempt += 1
