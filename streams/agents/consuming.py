"""Every agent's consuming loop: take a batch of events, retry until handled, only then ack."""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar, cast

import faust
import structlog

from streams import metrics
from streams.runtime import Runtime

log = structlog.get_logger(__name__)
T = TypeVar("T")

BACKOFF_BASE_S = 0.1
BACKOFF_CAP_S = 5.0

Handler = Callable[[Sequence[faust.EventT]], Awaitable[None]]


async def consume_durably(
    stream: faust.StreamT[bytes], handle: Handler, name: str, max_events: int, within_s: float
) -> None:
    """Nothing is acked (so committed) before `handle` has succeeded for the whole batch.

    Faust acks a message when an agent raises, so failures never leave `handle`: they are retried here.
    """
    batches = cast(faust.Stream[bytes], stream).take_events(max_events, within=within_s)
    async for events in batches:  # (StreamT's interface lacks take_events; Faust's Stream has it)
        # take_events acks in a `finally`, even when the worker stops mid-batch; the extra
        # reference keeps those events uncommitted, so the next owner of the partition redoes them.
        for event in events:
            event.message.incref()
        await retry_until_done(functools.partial(handle, events), name)
        for event in events:
            event.ack()


async def retry_until_done(call: Callable[[], Awaitable[T]], name: str) -> T:
    """Postgres or Kafka away: the partition waits, backing off with full jitter, and resumes."""
    attempt = 0
    while True:
        try:
            return await call()
        except Exception as exc:
            metrics.RETRIES.labels(type(exc).__name__).inc()
            delay = random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))
            log.warning(
                f"{name}.retry",
                error=f"{type(exc).__name__}: {exc}",
                attempt=attempt + 1,
                retry_in_s=round(delay, 3),
                hint="Postgres or Kafka unreachable? The partition waits and resumes when it is back.",
                exc_info=attempt % 10 == 0,
            )
            await asyncio.sleep(delay)
        attempt += 1


def raw_topic(app: faust.App, name: str, partitions: int) -> faust.TopicT:
    """A topic whose keys and values reach agents as the bytes on the wire (each agent parses its own)."""
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
    )


def durable_agent(
    app: faust.App,
    topic: faust.TopicT,
    name: str,
    runtime: Runtime,
    build_handler: Callable[[], Handler],
    max_events: int,
    within_s: float,
) -> None:
    """Register an agent that starts the shared runtime, builds its handler, then consumes durably."""

    @app.agent(topic, name=name)
    async def agent(stream: faust.StreamT[bytes]) -> None:
        await runtime.start()
        await consume_durably(stream, build_handler(), name, max_events, within_s)
