"""Which partition a command belongs on, and what the command agent does with one that is elsewhere."""

from __future__ import annotations

from collections.abc import Iterable
from types import SimpleNamespace

import pytest
from aiokafka.partitioner import DefaultPartitioner
from prometheus_client import REGISTRY

from schemas.bounds import MAX_ID_LENGTH
from streams.commands.forwarding import PARTITIONS_TTL_S, Forwarder
from streams.commands.processor import Record
from streams.kafka.producer import DurableProducer, OutRecord
from streams.kafka.routing import (
    KEY_HASHES,
    KeyPartitioner,
    WarnThrottle,
    expected_partition,
    key_hash,
    remembered_key_hash,
    split,
)

# Kafka's own UtilsTest.testMurmur2 (signed Java ints).
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}
# Partitions out of 1000 that Kafka's Java DefaultPartitioner picks (as kafka-python checks them).
JAVA_PARTITION_OF_1000 = {b"": 681, b"a": 524, b"ab": 434, b"abc": 107, b"123456789": 566, b"\x00 ": 742}


@pytest.mark.parametrize(("key", "java_hash"), JAVA_MURMUR2.items())
def test_the_partition_is_java_s_murmur2(key: bytes, java_hash: int) -> None:
    for partitions in (1, 3, 4, 12, 1000):
        assert expected_partition(key, partitions) == (java_hash & 0x7FFFFFFF) % partitions


@pytest.mark.parametrize(("key", "partition"), JAVA_PARTITION_OF_1000.items())
def test_the_partition_is_the_java_client_s(key: bytes, partition: int) -> None:
    assert expected_partition(key, 1000) == partition


def test_the_partition_is_the_one_aiokafka_producers_choose() -> None:
    partitioner = DefaultPartitioner()
    for partitions in (1, 2, 4, 7, 32):
        every = list(range(partitions))
        for n in range(200):
            key = f"job-{n}".encode()
            assert expected_partition(key, partitions) == partitioner(key, every, every)


def test_the_service_producer_partitions_as_aiokafka_does() -> None:
    """Its partitioner remembers hashes; the partitions are still aiokafka's, for any partition list."""
    ours, theirs = KeyPartitioner(), DefaultPartitioner()
    for every in ([0], [0, 1, 2, 3], [2, 5, 9], list(range(32))):
        for n in range(300):
            key = f"job-{n % 150}".encode()  # each key twice: computed, then remembered
            assert ours(key, every, every) == theirs(key, every, every)
            assert ours(bytearray(key), every, every) == theirs(key, every, every)


def test_a_keyless_record_goes_to_an_available_partition() -> None:
    partitioner = KeyPartitioner()
    assert {partitioner(None, [0, 1, 2, 3], [2]) for _ in range(50)} == {2}
    assert {partitioner(None, [0, 1], []) for _ in range(200)} == {0, 1}


def test_remembered_hashes_are_bounded() -> None:
    remembered_key_hash.cache_clear()
    for n in range(3 * KEY_HASHES):
        key_hash(f"job-{n}".encode())
    info = remembered_key_hash.cache_info()
    assert info.currsize == info.maxsize == KEY_HASHES


def test_a_key_no_job_id_can_be_is_hashed_but_not_remembered() -> None:
    """A hostile producer's megabyte keys reach the route check before parsing: none is kept."""
    remembered_key_hash.cache_clear()
    huge = b"j" * (1 << 20)
    assert expected_partition(huge, 1000) == DefaultPartitioner()(huge, list(range(1000)), [])
    longest = "\u00e9".join([""] * (MAX_ID_LENGTH + 1)).encode()  # 256 two-byte characters
    key_hash(longest)
    assert remembered_key_hash.cache_info().currsize == 1


async def test_the_service_producer_uses_it() -> None:
    producer = DurableProducer("localhost:1")
    assert isinstance(producer._producer._partitioner, KeyPartitioner)


def test_a_topic_has_partitions() -> None:
    with pytest.raises(ValueError):
        expected_partition(b"job", 0)


def record(key: bytes | None, partition: int, offset: int = 0) -> Record:
    headers = [("trace", b"t-1")]
    event = SimpleNamespace(message=SimpleNamespace(headers=headers))
    return Record(key, b"{}", "jobs.commands", partition, offset, context=event)


def key_on(partition: int, partitions: int) -> bytes:
    """A key whose murmur2 partition is `partition`."""
    return next(
        key
        for key in (f"job-{n}".encode() for n in range(10_000))
        if expected_partition(key, partitions) == partition
    )


def test_split_keeps_order_and_names_each_misrouted_record_s_partition() -> None:
    a, b = key_on(0, 4), key_on(2, 4)
    records = [record(a, 0, 1), record(b, 0, 2), record(None, 0, 3), record(a, 0, 4), record(b, 2, 5)]
    local, misrouted = split(records, 4)
    assert [r.offset for r in local] == [1, 3, 4, 5], "keyless records stay where they are"
    assert [(r.offset, target) for r, target in misrouted] == [(2, 2)]


def test_warnings_are_throttled_per_source_partition() -> None:
    throttle = WarnThrottle(every_s=300)
    assert throttle.add(0, 2, now=0) == 2, "the first time a partition forwards, it warns"
    assert throttle.add(1, 1, now=1) == 1
    assert throttle.add(0, 5, now=100) is None
    assert throttle.add(0, 1, now=299) is None
    assert throttle.add(0, 1, now=300) == 7, "then with the count since the last warning"
    assert throttle.add(0, 1, now=301) is None


class FakeProducer:
    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.sent: list[OutRecord] = []
        self.lookups = 0

    async def partitions_for(self, topic: str) -> set[int]:
        self.lookups += 1
        return set(range(self.partitions))

    async def send_all(self, records: Iterable[OutRecord]) -> None:
        self.sent.extend(records)


def forwarded_from(partition: int) -> float:
    value = REGISTRY.get_sample_value("jobstream_commands_forwarded_total", {"partition": str(partition)})
    return value or 0.0


async def test_a_misrouted_record_is_forwarded_unchanged_once_and_not_kept() -> None:
    producer = FakeProducer(partitions=4)
    now = [0.0]
    forwarder = Forwarder(producer, "jobs.commands", clock=lambda: now[0])  # type: ignore[arg-type]
    mine, theirs = key_on(1, 4), key_on(3, 4)
    batch = [record(mine, 1, 10), record(theirs, 1, 11), record(None, 1, 12)]
    before = forwarded_from(1)

    local = await forwarder.forward_misrouted(batch)
    assert [r.offset for r in local] == [10, 12]
    assert producer.sent == [OutRecord("jobs.commands", theirs, b"{}", [("trace", b"t-1")], partition=3)]
    assert forwarded_from(1) == before + 1

    again = await forwarder.forward_misrouted(batch)  # the batch retried (e.g. Postgres was away)
    assert [r.offset for r in again] == [10, 12]
    assert len(producer.sent) == 1, "a retried batch forwarded the same record twice"
    assert producer.lookups == 1, "the partition count is cached"
    now[0] = PARTITIONS_TTL_S
    await forwarder.forward_misrouted([])
    assert producer.lookups == 2, "and read again from the metadata after a while"


async def test_the_partition_count_comes_from_the_topic_metadata() -> None:
    producer = FakeProducer(partitions=8)
    forwarder = Forwarder(producer, "jobs.commands")  # type: ignore[arg-type]
    key = next(
        k
        for k in (f"job-{n}".encode() for n in range(10_000))
        if expected_partition(k, 8) != expected_partition(k, 4)
    )
    on_its_partition_of_eight = record(key, expected_partition(key, 8))
    assert await forwarder.forward_misrouted([on_its_partition_of_eight]) == [on_its_partition_of_eight]
    assert producer.sent == []
