"""A compressed record larger than any message the broker takes back: settled, and its partition goes on."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from streams.kafka.routing import expected_partition
from tests.support.pipeline import Pipeline, command, unique

pytestmark = pytest.mark.e2e


async def test_a_record_too_big_to_dead_letter_is_settled_without_its_value(pipeline: Pipeline) -> None:
    settings = pipeline.settings
    job = unique("huge")
    value = orjson.dumps(
        {"command_id": "c1", "type": "create", "job_id": job, "metadata": {"pad": "y" * 3_000_000}}
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        compression_type="gzip",
        max_request_size=8 * 1024 * 1024,
    )
    await producer.start()
    try:  # 3 MB of one character compress to a few KiB: the broker takes it on jobs.commands
        sent = await producer.send_and_wait(settings.topics.commands, value, key=job.encode())
    finally:
        await producer.stop()
    after = unique("after")
    while expected_partition(after.encode(), settings.partitions) != sent.partition:
        after = unique("after")
    await pipeline.send_raw(after.encode(), command(after, "create"))

    source = {"source.partition": str(sent.partition).encode(), "source.offset": str(sent.offset).encode()}

    def is_its_dead_letter(message: Any) -> bool:
        return source.items() <= dict(message.headers).items()

    [dead] = await pipeline.read_topic(settings.topics.deadletter, is_its_dead_letter, 1, timeout_s=60)
    headers = dict(dead.headers)
    assert headers["error.code"] == b"internal_error", headers["error.code"]
    assert headers["source.value.size"] == str(len(value)).encode()
    assert headers["source.value.sha256"] == hashlib.sha256(value).hexdigest().encode()
    assert dead.value == b"" and dead.key is None
    events = await pipeline.events(after, 1, timeout_s=60)
    assert events[0]["event_id"] == f"{after}:1", "the partition went on after the oversized record"
