"""A job created by a librdkafka producer (CRC32 partitioner) and moved on by the API keeps one order."""

from __future__ import annotations

import asyncio
import zlib

import pytest
from confluent_kafka import KafkaException, Message, Producer

from streams.kafka.routing import expected_partition
from tests.support.pipeline import Pipeline, command, unique

pytestmark = pytest.mark.e2e


def partition_count(servers: str, topic: str) -> int:
    metadata = Producer({"bootstrap.servers": servers}).list_topics(topic, timeout=30)
    return len(metadata.topics[topic].partitions)


def produce_with_librdkafka_defaults(servers: str, topic: str, key: bytes, values: list[bytes]) -> list[int]:
    """Produce as a confluent-kafka user does (no `partitioner` set); returns the partitions used."""
    producer = Producer({"bootstrap.servers": servers})
    delivered: list[Message] = []

    def on_delivery(error: object, message: Message) -> None:
        if error is not None:
            raise KafkaException(error)
        delivered.append(message)

    for value in values:
        producer.produce(topic, value, key, headers=[("trace", b"from-rdkafka")], on_delivery=on_delivery)
    assert producer.flush(30) == 0, "a record was not delivered"
    return [message.partition() or 0 for message in delivered]


async def test_a_job_created_through_librdkafka_s_default_partitioner_keeps_its_order(
    pipeline: Pipeline,
) -> None:
    servers, topic = pipeline.settings.bootstrap_servers, pipeline.settings.topics.commands
    partitions = await asyncio.to_thread(partition_count, servers, topic)
    assert partitions > 1
    # A job whose key librdkafka (CRC32, `consistent_random`) and Kafka's Java client (murmur2) place apart.
    job = next(
        j
        for j in (unique("rdkafka") for _ in range(1000))
        if zlib.crc32(j.encode()) % partitions != expected_partition(j.encode(), partitions)
    )
    crc32_partition = zlib.crc32(job.encode()) % partitions
    murmur2_partition = expected_partition(job.encode(), partitions)
    # Its own commands, produced one after the other without waiting: their order must hold.
    by_rdkafka = [
        command(job, "create", metadata={"by": "confluent-kafka"}),
        command(job, "transition", status="pending"),
    ]
    used = await asyncio.to_thread(produce_with_librdkafka_defaults, servers, topic, job.encode(), by_rdkafka)
    assert used == [crc32_partition] * 2, "librdkafka's default partitioner is not CRC32 here"

    first = await pipeline.events(job, 2)
    assert [e["type"] for e in first] == ["job.created", "job.status_changed"]
    client = pipeline.client  # the service's own client: murmur2, the job's partition
    await client.update_metadata(job, {"step": 3})
    await client.transition(job, "running")
    await client.attach_messages(job, ["m-1"])
    await client.transition(job, "completed", stop_reason="end_turn")

    events = await pipeline.events(job, 6)
    assert [e["type"] for e in events] == [
        "job.created",
        "job.status_changed",
        "job.metadata_updated",
        "job.status_changed",
        "job.messages_attached",
        "job.status_changed",
    ], "a command was rejected or applied out of order"
    assert [e["seq"] for e in events] == list(range(1, 7))
    row = await pipeline.job_row(job)
    assert row is not None and (row["status"], row["seq"], row["stop_reason"]) == ("completed", 6, "end_turn")
    stored = await pipeline.fetch("SELECT seq FROM job_events WHERE job_id = $1 ORDER BY seq", job)
    assert [r["seq"] for r in stored] == list(range(1, 7))

    # The librdkafka records were forwarded unchanged to the job's partition, and processed only there.
    on_topic = await pipeline.read_topic(topic, lambda m: m.key == job.encode(), 6)
    forwarded = [m for m in on_topic if m.partition == murmur2_partition][:2]
    assert [(m.value, list(m.headers)) for m in forwarded] == [
        (value, [("trace", b"from-rdkafka")]) for value in by_rdkafka
    ]
    changelog = f"{pipeline.settings.app_id}-job-state-changelog"
    states = await pipeline.read_topic(changelog, lambda m: m.key == job.encode(), 1)
    assert {m.partition for m in states} == {murmur2_partition}, "the job's state was kept on two partitions"
    log = pipeline.logs / f"{pipeline.namespace}-w0.log"
    assert "murmur2_random" in log.read_text(), "the operator was not told how to fix the producer"
