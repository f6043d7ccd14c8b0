"""The ceiling: what Kafka alone allows here — consume, produce acks=all, commit; no validation, no DB.

Run by `jobstream bench` in its own process: `python -m streams.devtools.bench.ceiling SOURCE SINK GROUP`.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.devtools.bench.child import run_child
from streams.settings import Settings


async def pass_through(settings: Settings, source: str, sink: str, group: str, stop: asyncio.Event) -> None:
    bootstrap = settings.bootstrap_servers
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=2000)
            futures = [
                await producer.send(sink, message.value, key=message.key)
                for messages in batch.values()
                for message in messages
            ]
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


if __name__ == "__main__":
    run_child(pass_through)
