"""Batches that start as soon as the records that are there have been taken: no timer on a quiet partition.

Faust's `Stream.take_events(max_, within)` yields when `max_` events are buffered or `within` seconds have
passed. Under load the first comes first; at a low rate every command waits out the timer (50 ms by
default) before its batch starts — most of the latency a user sees at a normal load. `take_ready` is the
same generator (same buffering processor, the same hand-over and the same acks, so Faust's stream, acking
and rebalance behaviour are unchanged) with one more reason to yield: the stream's channel queue is
empty, i.e. every record the fetcher has delivered so far is in the batch. Under load records pile up in
the queue while a batch is processed, so the next batch takes all of them (up to `max_`): batches still
grow with the load. `within` remains the longest a buffered event waits if its wake-up was missed.

Written against faust-streaming 0.15 (`faust/streams.py`, `Stream.take_events`); it uses the stream's
`add_processor`, `_enable_passive`, `wait_for_stopped`, `ack` and `channel.queue` as that method does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import faust
from mode.utils.futures import notify


async def take_ready(
    stream: faust.StreamT[Any], max_: int, within_s: float
) -> AsyncIterator[Sequence[faust.EventT]]:
    """Yield lists of at most `max_` events: as soon as the channel has nothing more, or `max_` are
    buffered, or (a fallback) `within_s` after the last wake-up. Each list's events are acked after
    the consumer of the generator has taken the next one (as `take_events` does)."""
    faust_stream = cast(Any, stream)  # StreamT's interface lacks the Stream internals used below
    events: list[faust.EventT] = []
    ready = asyncio.Event()  # the buffer should be handed over
    consumed = asyncio.Event()  # the handed-over buffer has been processed
    handing_over: asyncio.Future[None] | None = None
    queue = faust_stream.channel.queue

    async def add_to_buffer(value: Any) -> Any:
        nonlocal handing_over
        try:
            if handing_over is not None:  # hold new events while a batch is being processed
                try:
                    await handing_over
                finally:
                    handing_over = None
            event = faust_stream.current_event
            if event is None:
                raise RuntimeError("take_ready found no current event")
            events.append(event)
            if len(events) >= max_:
                ready.set()
                consumed.clear()
                await faust_stream.wait(consumed)  # never more than max_ in one batch
            elif queue.empty():
                ready.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # as take_events does: the stream crashes, visibly
            faust_stream.log.exception("Error adding to take buffer: %r", exc)
            await faust_stream.crash(exc)
        return value

    acks_were_enabled = faust_stream.enable_acks
    faust_stream.enable_acks = False  # this generator acks, after each batch is processed
    faust_stream.add_processor(add_to_buffer)
    faust_stream._enable_passive(faust_stream.channel.__aiter__())
    try:
        while not faust_stream.should_stop:
            await faust_stream.wait_for_stopped(ready, timeout=within_s)
            if not events:
                ready.clear()
                continue
            handing_over = faust_stream.loop.create_future()
            batch = list(events)
            try:
                yield batch
            finally:
                events.clear()
                for event in batch:
                    await faust_stream.ack(event)
                notify(handing_over)
                ready.clear()
                consumed.set()
    finally:
        faust_stream.enable_acks = acks_were_enabled
        faust_stream._processors.remove(add_to_buffer)
