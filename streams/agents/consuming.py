"""Every agent's consuming loop: take a batch of events, give each its outcome, only then ack."""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar, cast

import faust
import structlog

from streams import metrics
from streams.deadletter import dead_letter
from streams.failures import describe, is_transient
from streams.runtime import Runtime

log = structlog.get_logger(__name__)
T = TypeVar("T")

BACKOFF_BASE_S = 0.1
BACKOFF_CAP_S = 5.0

Handler = Callable[[Sequence[faust.EventT]], Awaitable[None]]
# Settles one event that fails every time it is handled (with that error): a final outcome of its own.
GiveUp = Callable[[faust.EventT, Exception], Awaitable[None]]


async def consume_durably(
    stream: faust.StreamT[bytes],
    handle: Handler,
    give_up: GiveUp,
    name: str,
    max_events: int,
    within_s: float,
) -> None:
    """Nothing is acked (so committed) before every event of the batch has its outcome.

    Faust acks a message when an agent raises, so failures never leave here: outages are retried, and
    anything else is narrowed to the events that cause it, which `give_up` settles one by one.
    """
    batches = cast(faust.Stream[bytes], stream).take_events(max_events, within=within_s)
    async for events in batches:  # (StreamT's interface lacks take_events; Faust's Stream has it)
        # take_events acks in a `finally`, even when the worker stops mid-batch; the extra
        # reference keeps those events uncommitted, so the next owner of the partition redoes them.
        for event in events:
            event.message.incref()
        await settle(events, handle, give_up, name)
        for event in events:
            event.ack()


async def settle(events: Sequence[faust.EventT], handle: Handler, give_up: GiveUp, name: str) -> None:
    """Handle the batch, retrying outages; a failure that is not one is bisected down to its events.

    Halves are handled in order, so each job's commands still apply in the order they were read, and a
    batch with one bad record costs about 2·log2(size) extra attempts, not a stalled partition.
    """
    try:
        await retry(functools.partial(handle, events), name, is_transient)
        return
    except Exception as exc:
        if len(events) == 1:
            event = events[0].message
            metrics.ISOLATED.labels(name).inc()
            log.error(
                f"{name}.isolated",
                error=describe(exc),
                topic=event.topic,
                partition=event.partition,
                offset=event.offset,
                key=_key_text(event.key),
                hint="this record fails on every attempt: it gets a final outcome and the partition goes on",
                exc_info=True,
            )
            # Its outcome must be recorded: if even that fails, nothing else is left to do but retry.
            await retry(functools.partial(give_up, events[0], exc), f"{name}.give_up", _always)
            return
        log.warning(f"{name}.narrowing", error=describe(exc), size=len(events))
    middle = len(events) // 2
    await settle(events[:middle], handle, give_up, name)
    await settle(events[middle:], handle, give_up, name)


async def retry(call: Callable[[], Awaitable[T]], name: str, retryable: Callable[[Exception], bool]) -> T:
    """Retry `call` with capped exponential backoff and full jitter while its failures are `retryable`;
    others are raised. Cancellation (a stopping worker) interrupts the wait at once."""
    attempt = 0
    while True:
        try:
            return await call()
        except Exception as exc:
            if not retryable(exc):
                raise
            metrics.RETRIES.labels(type(exc).__name__).inc()
            delay = random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))
            log.warning(
                f"{name}.retry",
                error=describe(exc),
                attempt=attempt + 1,
                retry_in_s=round(delay, 3),
                hint="an outage (Postgres or Kafka unreachable, a timeout, a conflicting worker): "
                "the partition waits and resumes when it is over",
                exc_info=attempt % 10 == 0,
            )
            await asyncio.sleep(delay)
        attempt += 1


def dead_letter_give_up(runtime: Runtime, deadletter_topic: str) -> GiveUp:
    """For agents whose records have no rejection of their own: the record goes to the dead-letter
    topic, unchanged, with the error that it failed with every time (code `internal_error`)."""

    async def give_up(event: faust.EventT, error: Exception) -> None:
        record = dead_letter(deadletter_topic, event.message, "internal_error", describe(error))
        await runtime.producer.send_all([record])

    return give_up


def _always(exc: Exception) -> bool:
    return True


def _key_text(key: bytes | None) -> str | None:
    return None if key is None else key[:200].decode("utf-8", "replace")


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
    build_handler: Callable[[], tuple[Handler, GiveUp]],
    max_events: int,
    within_s: float,
) -> None:
    """Register an agent that starts the shared runtime, builds its handler, then consumes durably."""

    @app.agent(topic, name=name)
    async def agent(stream: faust.StreamT[bytes]) -> None:
        await runtime.start()
        handle, give_up = build_handler()
        await consume_durably(stream, handle, give_up, name, max_events, within_s)
