"""take_ready: a lone record starts its batch at once; records that pile up meanwhile form the next one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import faust
import pytest

from streams.kafka.batching import take_ready

TIMER_S = 30.0  # the fallback timer: a test that waited for it would time out first
MAX = 100

app = faust.App("test-batching", store="memory://", web_enabled=False)
batches: list[list[bytes]] = []
gate = asyncio.Event()  # the consumer holds its first batch until the test opens it
handed_over = asyncio.Event()  # set each time the consumer receives a batch


@app.agent()
async def batcher(stream: faust.StreamT[bytes]) -> None:
    async for events in take_ready(stream, MAX, TIMER_S):
        batches.append([event.value for event in events])
        handed_over.set()
        await gate.wait()


@pytest.fixture
async def running() -> AsyncIterator[faust.types.AgentT]:
    batches.clear()
    gate.clear()
    async with batcher.test_context() as agent:
        yield agent


async def _until(condition: Callable[[], object], timeout_s: float = 5.0) -> None:
    async def watch() -> None:
        while not condition():
            handed_over.clear()
            await handed_over.wait()

    await asyncio.wait_for(watch(), timeout_s)


async def test_a_lone_record_does_not_wait_for_the_timer(running: faust.types.AgentT) -> None:
    gate.set()
    await running.put(b"only")
    await _until(lambda: batches)
    assert batches == [[b"only"]]


async def test_records_that_arrive_during_a_batch_form_the_next_up_to_the_maximum(
    running: faust.types.AgentT,
) -> None:
    await running.put(b"first")
    await _until(lambda: batches)  # the consumer now holds batch 1 at the gate
    sent = [str(i).encode() for i in range(2 * MAX + 50)]
    for value in sent:
        await running.put(value, wait=False)  # queued while the consumer is busy
    gate.set()
    await _until(lambda: sum(len(b) for b in batches) == 1 + len(sent))
    assert batches[0] == [b"first"]
    assert [value for batch in batches[1:] for value in batch] == sent  # all of them, in order
    assert max(len(batch) for batch in batches) == MAX  # never more than the maximum
    assert len(batches) <= 1 + 4  # the backlog went out in full batches, not one by one
