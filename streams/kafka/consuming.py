"""Every agent's consuming loop: take a batch of events, give each its outcome, only then ack."""

from __future__ import annotations

from collections.abc import Callable

import faust

from streams.kafka.batching import take_ready
from streams.kafka.runtime import Runtime
from streams.kafka.settlement import GiveUp, Handler, Settlement, dead_letter_last_resort, settle


async def consume_durably(
    stream: faust.StreamT[bytes], settlement: Settlement, name: str, max_events: int, within_s: float
) -> None:
    """Nothing is acked (so committed) before every event of the batch has its outcome.

    Faust acks a message when an agent raises, so failures never leave here: outages are retried, and
    anything else is narrowed to the events that cause it, each of which is settled on its own.
    """
    async for events in take_ready(stream, max_events, within_s):
        # take_ready acks in a `finally`, even when the worker stops mid-batch; the extra
        # reference keeps those events uncommitted, so the next owner of the partition redoes them.
        for event in events:
            event.message.incref()
        await settle(events, settlement, name)
        for event in events:
            event.ack()


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
    build_handler: Callable[[], tuple[Handler, GiveUp | None]],
    deadletter_topic: str,
    max_events: int,
    within_s: float,
) -> None:
    """Register an agent that starts the shared runtime, builds its handler, then consumes durably;
    `build_handler` returns the batch handler and how to settle an event that fails (None: dead-letter)."""

    @app.agent(topic, name=name)
    async def agent(stream: faust.StreamT[bytes]) -> None:
        await runtime.start()
        handle, give_up = build_handler()
        settlement = Settlement(handle, give_up, dead_letter_last_resort(runtime, deadletter_topic))
        await consume_durably(stream, settlement, name, max_events, within_s)
