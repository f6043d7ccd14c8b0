"""The ceiling: what Kafka alone allows here — consume, produce acks=all, commit; no validation, no DB.

Run by `jobstream bench` in its own process: `python -m streams.devtools.bench.ceiling SOURCE SINK GROUP`.
"""

from __future__ import annotations

import asyncio

from streams.devtools.bench.child import kafka_clients, run_child
from streams.settings import Settings


async def pass_through(settings: Settings, source: str, sink: str, group: str, stop: asyncio.Event) -> None:
    async with kafka_clients(settings.bootstrap_servers, source, group, linger_ms=2) as (consumer, producer):
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


if __name__ == "__main__":
    run_child(pass_through)
