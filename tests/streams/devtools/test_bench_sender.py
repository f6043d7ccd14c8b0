"""The bench's load generator: every command on its job's partition, in order, acknowledged; and a
broker it cannot reach said in one line, not a hang."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.devtools.bench.sender import CommandSender
from streams.devtools.stack.ports import free_ports
from streams.devtools.stack.stack import LocalStack
from streams.kafka.routing import expected_partition
from streams.settings import Settings

pytestmark = pytest.mark.e2e

PARTITIONS = 6


async def test_each_job_s_commands_land_in_order_on_the_partition_the_service_expects(
    stack: LocalStack, settings: Settings
) -> None:
    topic = f"sender-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
        sent = [(f"job-{i % 40}".encode(), f"{i}".encode()) for i in range(400)]
        sender = CommandSender(settings.bootstrap_servers, topic, paced=True)
        await sender.start()
        for key, value in sent:
            await sender.send(key, value)
        assert await sender.finish() == []
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=settings.bootstrap_servers, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            received: list[tuple[bytes, bytes, int]] = []
            while len(received) < len(sent):
                batch = await consumer.getmany(timeout_ms=10_000)
                assert batch, f"only {len(received)} of {len(sent)} records arrived"
                for records in batch.values():
                    received += [(r.key, r.value, r.partition) for r in records]
        finally:
            await consumer.stop()
    finally:
        await admin.delete_topics([topic])
        await admin.close()
    assert all(partition == expected_partition(key, PARTITIONS) for key, _, partition in received)
    for job in {key for key, _ in sent}:
        assert [v for k, v, _ in received if k == job] == [v for k, v in sent if k == job]


async def test_a_broker_it_cannot_reach_is_reported_once_the_wait_is_over() -> None:
    sender = CommandSender(f"127.0.0.1:{free_ports(1)[0]}", "nowhere", paced=True)
    await sender.send(b"job", b"{}")
    problems = await sender.finish(timeout_s=2)
    assert problems == ["1 commands unacknowledged after 2 s: is the broker up (jobstream stack status)?"]


async def test_a_broker_it_cannot_reach_at_the_start_is_said_before_anything_is_timed() -> None:
    sender = CommandSender(f"127.0.0.1:{free_ports(1)[0]}", "nowhere", paced=True)
    with pytest.raises(RuntimeError, match=r"no broker answered in 2 s: is the broker up"):
        await sender.start(timeout_s=2)
