"""The one Kafka producer for everything the service publishes: acks=all, idempotent, awaited."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from streams.kafka.routing import KeyPartitioner

MAX_REQUEST_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class OutRecord:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()
    partition: int | None = None  # None: the key's partition (murmur2, as Kafka's Java client)


def json_record(
    topic: str, key: str, document: dict[str, Any], headers: Sequence[tuple[str, bytes]] = ()
) -> OutRecord:
    return OutRecord(topic, key.encode(), orjson.dumps(document), headers)


class DurableProducer:
    """Sends are durable when `send_all` returns: every record acknowledged by all in-sync replicas."""

    def __init__(self, bootstrap_servers: str, client_id: str = "jobstream") -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            partitioner=KeyPartitioner(),
            linger_ms=0,
            max_batch_size=256 * 1024,
            max_request_size=MAX_REQUEST_BYTES,
            request_timeout_ms=30_000,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def __aenter__(self) -> DurableProducer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def send_all(self, records: Iterable[OutRecord]) -> None:
        """Enqueue all (so they share request batches, in order per partition), then await every ack."""
        futures = [
            await self._producer.send(
                r.topic, r.value, key=r.key, partition=r.partition, headers=list(r.headers) or None
            )
            for r in records
        ]
        if futures:
            await asyncio.gather(*futures)

    async def partitions_for(self, topic: str) -> set[int]:
        return await self._producer.partitions_for(topic)
