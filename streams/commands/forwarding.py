"""Commands that arrived on another partition than their job's are sent there before they are acked."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog

from streams import metrics
from streams.commands.processor import Record
from streams.kafka import routing
from streams.kafka.producer import DurableProducer, OutRecord
from streams.kafka.settlement import key_text
from streams.recent import RecentlySeen

log = structlog.get_logger(__name__)

PARTITIONS_TTL_S = 60.0  # how long the commands topic's partition count (from metadata) is trusted
WARN_EVERY_S = 300.0  # after a source partition's first forwarding warning, counts at most this often
# Records (partition, offset, key) forwarded lately: a retried batch does not forward them again.
FORWARDED_MEMORY = 50_000


class Forwarder:
    """Sends each command that arrived on another partition than murmur2(key) picks to that partition.

    Producers that hash keys otherwise (librdkafka's default is CRC32) would split one job over two
    partitions, processed out of order. The record is forwarded unchanged (key, value, headers) and
    durably before the batch is acked, and is not processed where it arrived; a crash in between
    forwards it again, which the command's idempotency (rule 7) absorbs. The partition count comes from
    the topic's metadata, never from settings, so the target is a partition where the record stays.
    """

    def __init__(
        self, producer: DurableProducer, topic: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.producer = producer
        self.topic = topic
        self.clock = clock
        self.throttle = routing.WarnThrottle(WARN_EVERY_S)
        self._count: tuple[int, float] | None = None  # (partitions of the topic, read at)
        self._forwarded: RecentlySeen[tuple[int, int, bytes | None]] = RecentlySeen(FORWARDED_MEMORY)

    async def forward_misrouted(self, records: Sequence[Record]) -> list[Record]:
        """Forward the misrouted records (awaiting every ack); returns those that belong here, in order."""
        local, misrouted = routing.split(records, await self._partition_count())
        fresh = [(r, target) for r, target in misrouted if _where(r) not in self._forwarded]
        if fresh:
            await self.producer.send_all(
                OutRecord(self.topic, r.key, r.value, _headers(r.context), partition=target)
                for r, target in fresh
            )
            for r, _ in fresh:  # only once acked: a batch whose send failed forwards them again
                self._forwarded.add(_where(r))
            self._report(fresh)
        return local

    async def _partition_count(self) -> int:
        now = self.clock()
        if self._count is None or now - self._count[1] >= PARTITIONS_TTL_S:
            self._count = (len(await self.producer.partitions_for(self.topic)), now)
        return self._count[0]

    def _report(self, forwarded: Sequence[tuple[Record, int]]) -> None:
        by_source: dict[int, list[tuple[Record, int]]] = {}
        for record, target in forwarded:
            by_source.setdefault(record.partition, []).append((record, target))
        for source, items in by_source.items():
            metrics.FORWARDED.labels(str(source)).inc(len(items))
            count = self.throttle.add(source, len(items), self.clock())
            if count is None:
                continue
            record, target = items[0]
            log.warning(
                "commands.forwarded",
                topic=self.topic,
                source_partition=source,
                forwarded=count,  # since this partition's previous warning (at most one per WARN_EVERY_S)
                example_key=key_text(record.key),
                example_target_partition=target,
                hint="a producer does not partition by murmur2 of the key (Kafka's Java default): set "
                "partitioner=murmur2_random on librdkafka clients (confluent-kafka, kcat -X, Go/.NET/Node "
                "on librdkafka). Each command was forwarded to its job's partition; see docs/contract.md §2",
            )


def _where(record: Record) -> tuple[int, int, bytes | None]:
    return (record.partition, record.offset, record.key)


def _headers(event: Any) -> list[tuple[str, bytes]]:
    """The headers of the Faust event a record came from, as aiokafka sends them."""
    headers = getattr(getattr(event, "message", None), "headers", None) or ()
    return list(headers.items() if isinstance(headers, Mapping) else headers)
