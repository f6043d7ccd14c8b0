"""The bench's own child processes (ceiling, baseline): argv in, run until SIGTERM, log to stdout."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.settings import Settings

PassThrough = Callable[[Settings, str, str, str, asyncio.Event], Awaitable[None]]


def run_child(loop_body: PassThrough) -> None:
    """`python -m <module> SOURCE SINK GROUP`: runs `loop_body` until the bench sends SIGTERM."""
    source, sink, group = sys.argv[1:4]

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await loop_body(Settings.from_env(), source, sink, group, stop)

    asyncio.run(main())


@asynccontextmanager
async def kafka_clients(
    bootstrap: str, source: str, group: str, linger_ms: int = 0
) -> AsyncIterator[tuple[AIOKafkaConsumer, AIOKafkaProducer]]:
    """A child's consumer (its group, from the earliest offset, committing itself) and its producer
    (acks=all, idempotent: the same durability as the worker's), started and stopped together."""
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=linger_ms
    )
    await consumer.start()
    await producer.start()
    try:
        yield consumer, producer
    finally:
        await consumer.stop()
        await producer.stop()
