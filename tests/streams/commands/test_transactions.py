"""Kafka transactions (docs/contract.md §2): what an aborted one wrote is never applied nor delivered."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from schemas.events import Event
from streams.kafka.routing import expected_partition
from tests.support.pipeline import Pipeline, command, unique

pytestmark = pytest.mark.e2e


async def transactional_producer(pipeline: Pipeline) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        bootstrap_servers=pipeline.settings.bootstrap_servers,
        transactional_id=f"test-{uuid.uuid4().hex[:12]}",
    )
    await producer.start()
    return producer


async def same_partition_job(producer: AIOKafkaProducer, topic: str, job_id: str, prefix: str) -> str:
    """A new job id whose commands land on the same partition as `job_id`'s (murmur2, like the client)."""
    partitions = len(await producer.partitions_for(topic))
    target = expected_partition(job_id.encode(), partitions)
    while True:
        candidate = unique(prefix)
        if expected_partition(candidate.encode(), partitions) == target:
            return candidate


async def test_an_aborted_transaction_is_never_applied(pipeline: Pipeline) -> None:
    aborted, committed = unique("txn-aborted"), unique("txn-committed")
    topic = pipeline.settings.topics.commands
    producer = await transactional_producer(pipeline)
    try:
        probe = await same_partition_job(producer, topic, aborted, "txn-probe")
        await producer.begin_transaction()
        for kind in ("create", "cancel"):  # awaited: the records are in the log before the abort
            await producer.send_and_wait(topic, command(aborted, kind), key=aborted.encode())
        await producer.abort_transaction()
        await producer.begin_transaction()
        for kind in ("create", "cancel"):
            await producer.send_and_wait(topic, command(committed, kind), key=committed.encode())
        await producer.commit_transaction()
    finally:
        await producer.stop()
    # Later in the aborted records' partition: once it is applied, they were read past.
    await pipeline.send_raw(probe.encode(), command(probe, "create"))

    seen = await pipeline.events_many({probe: 1, committed: 2})
    assert [e["type"] for e in seen[committed]] == ["job.created", "job.status_changed"]
    row = await pipeline.job_row(committed)
    assert row is not None and (row["status"], row["seq"]) == ("cancelled", 2)

    assert await pipeline.job_row(aborted) is None, "a command of an aborted transaction was applied"
    stored = await pipeline.fetch("SELECT seq FROM job_events WHERE job_id = $1", aborted)
    assert stored == []
    # The aborted job's events would sit before the probe's, on the same partition of the events topic.
    events_of_aborted = await pipeline.read_topic(
        pipeline.settings.topics.events, lambda m: m.key == aborted.encode(), 0, settle_s=1.0
    )
    assert events_of_aborted == [], "an aborted command produced an event (applied or rejected)"


async def first_event(stream: AsyncIterator[Event]) -> Event:
    async for event in stream:
        return event
    raise AssertionError("the event stream ended")


async def test_the_client_never_delivers_an_event_of_an_aborted_transaction(pipeline: Pipeline) -> None:
    job = unique("txn-follow")
    ready = asyncio.Event()
    client = pipeline.client
    stream = client.events(job_ids={job}, on_ready=ready.set)
    first = asyncio.ensure_future(first_event(stream))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        forged = {
            "event_id": f"{job}:forged",
            "type": "job.created",
            "job_id": job,
            "seq": 1,
            "command_id": "forged",
            "occurred_at": datetime.now(UTC).isoformat(),
            "job": {"id": job, "status": "created", "seq": 1},
        }
        producer = await transactional_producer(pipeline)
        try:
            await producer.begin_transaction()
            # Same key as the real event below: the same partition, so a reader sees this one first.
            await producer.send_and_wait(
                pipeline.settings.topics.events, orjson.dumps(forged), key=job.encode()
            )
            await producer.abort_transaction()
        finally:
            await producer.stop()
        await client.create(job)
        event = await asyncio.wait_for(first, 60)
    finally:
        first.cancel()
        await stream.aclose()
    assert event.event_id == f"{job}:1", f"delivered {event.event_id}, from an aborted transaction"
