"""The Python client against the real worker: create -> complete, events in order, each once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from schemas.events import Event
from streams.client import JobstreamClient
from tests.support.pipeline import Pipeline, unique

pytestmark = pytest.mark.e2e


async def take(stream: AsyncIterator[Event], count: int) -> list[Event]:
    taken: list[Event] = []
    async for event in stream:
        taken.append(event)
        if len(taken) == count:
            break
    return taken


async def test_round_trip_create_to_complete_in_order(pipeline: Pipeline) -> None:
    job_id = unique("client")
    client = JobstreamClient(pipeline.settings.bootstrap_servers, pipeline.settings.topics, "org-client")
    ready = asyncio.Event()
    stream = client.events(job_ids={job_id}, on_ready=ready.set)
    collecting = asyncio.ensure_future(take(stream, 4))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        await client.create(job_id, metadata={"step": 0})
        await client.transition(job_id, "pending")
        running = await client.transition(job_id, "running")
        # A producer retry: the service re-emits job:3 under the same event_id; the client drops it.
        await client.send(
            {"type": "transition", "job_id": job_id, "status": "running", "command_id": running}
        )
        await client.transition(job_id, "completed", stop_reason="end_turn")
        events = await asyncio.wait_for(collecting, 60)
    finally:
        collecting.cancel()
        await stream.aclose()
        await client.close()
    assert [e.event_id for e in events] == [f"{job_id}:{n}" for n in range(1, 5)]
    assert [e.job["status"] for e in events if e.job] == ["created", "pending", "running", "completed"]
    assert events[-1].stop_reason == "end_turn"
    assert all(e.job and e.job["organization_id"] == "org-client" for e in events)
    on_the_wire = await pipeline.events(job_id, 5)
    assert [e["event_id"] for e in on_the_wire].count(f"{job_id}:3") == 2, "the retry was not re-emitted"
