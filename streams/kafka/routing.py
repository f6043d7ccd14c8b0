"""Which partition a command belongs on: murmur2 of its key, as Kafka's Java client and aiokafka choose."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Protocol, TypeVar

from aiokafka.partitioner import murmur2

from schemas.bounds import MAX_ID_LENGTH

# Keys whose hash is remembered. aiokafka's murmur2 is pure Python (~6 µs for a job id) and every command
# hashes its job id twice (its route checked, its event partitioned), once per command of the job: jobs
# active at once hit. Only keys a job id can be (at most 256 characters, UTF-8) are remembered: a record
# key of any size reaches the route check before its command is parsed. At most ~18 MB when full.
KEY_HASHES = 1 << 14
REMEMBERED_KEY_BYTES = 4 * MAX_ID_LENGTH


class Routed(Protocol):
    @property
    def key(self) -> bytes | None: ...
    @property
    def partition(self) -> int: ...


R = TypeVar("R", bound=Routed)


def expected_partition(key: bytes, partitions: int) -> int:
    """Kafka's default partition: `toPositive(murmur2(key)) % partitions`, as the Java client picks it."""
    if partitions < 1:
        raise ValueError(f"a topic has at least one partition, not {partitions}")
    return key_hash(key) % partitions


def key_hash(key: bytes) -> int:
    """`toPositive(murmur2(key))`, remembered for the most recent keys a job id can be."""
    if len(key) > REMEMBERED_KEY_BYTES:
        return _positive_murmur2(key)
    return remembered_key_hash(key)


def _positive_murmur2(key: bytes) -> int:
    return murmur2(key) & 0x7FFFFFFF  # type: ignore[no-any-return]  # aiokafka is untyped


remembered_key_hash = lru_cache(maxsize=KEY_HASHES)(_positive_murmur2)


class KeyPartitioner:
    """aiokafka's `DefaultPartitioner` on the remembered hash: the same partition for every key."""

    def __call__(self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
        if key is None:
            return random.choice(available or all_partitions)
        return all_partitions[key_hash(bytes(key)) % len(all_partitions)]


def split(records: Iterable[R], partitions: int) -> tuple[list[R], list[tuple[R, int]]]:
    """(records on their key's partition, [(record, the partition it belongs on)]), each in input order.

    A record without a key has no partition of its own: it stays where it arrived.
    """
    local: list[R] = []
    misrouted: list[tuple[R, int]] = []
    for record in records:
        if record.key is None:
            local.append(record)
            continue
        target = expected_partition(record.key, partitions)
        if target == record.partition:
            local.append(record)
        else:
            misrouted.append((record, target))
    return local, misrouted


class WarnThrottle:
    """When to warn about forwarded records: the first time per source partition, then with the count
    since the last warning at most every `every_s` seconds (a misconfigured producer warns, not floods)."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._last: dict[int, float] = {}
        self._unreported: dict[int, int] = {}

    def add(self, partition: int, count: int, now: float) -> int | None:
        """Count `count` more from `partition`; returns how many to warn about now, or None (not yet)."""
        total = self._unreported.get(partition, 0) + count
        last = self._last.get(partition)
        if last is not None and now - last < self.every_s:
            self._unreported[partition] = total
            return None
        self._last[partition] = now
        self._unreported[partition] = 0
        return total
