"""What Faust alone allows: an agent that forwards each command unchanged (batched, acks=all, no work).

Run by `jobstream bench` as `python -m streams.devtools.bench.faust_floor SOURCE SINK GROUP`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import faust

from streams.kafka.consuming import consume_durably
from streams.kafka.producer import DurableProducer, OutRecord
from streams.kafka.settlement import Settlement
from streams.settings import Settings


def floor_datadir(settings: Settings, group: str) -> Path:
    return settings.home / "bench-data" / group


def main(source: str, sink: str, group: str) -> None:
    settings = Settings.from_env()
    floor_datadir(settings, group).parent.mkdir(parents=True, exist_ok=True)  # Faust makes only the last
    app = faust.App(
        group,
        broker=f"kafka://{settings.bootstrap_servers}",
        web_enabled=False,
        store="memory://",
        # Faust makes `<app id>-data` in the working directory (the checkout) unless told otherwise.
        datadir=str(floor_datadir(settings, group)),
        consumer_auto_offset_reset="earliest",
        topic_partitions=settings.partitions,
    )
    topic = app.topic(source, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    @app.agent(topic)
    async def forward(stream: faust.StreamT[bytes]) -> None:
        producer = DurableProducer(settings.bootstrap_servers, client_id=f"{group}-floor")
        await producer.start()

        async def handle(events: Sequence[faust.EventT]) -> None:
            await producer.send_all(OutRecord(sink, e.message.key, e.message.value) for e in events)

        async def last_resort(event: faust.EventT, error: Exception) -> None:
            raise error  # a pass-through has no outcome to give: the bench run fails loudly

        # The same consuming loop as the command agent, so the difference is jobstream's own work.
        settlement = Settlement(handle, None, last_resort)
        await consume_durably(stream, settlement, "floor", settings.batch_max, settings.batch_within_s)

    sys.argv = [sys.argv[0], "worker"]
    runner = faust.Worker(app, loglevel="warning", redirect_stdouts=False)
    runner.spinner = None  # see streams/cli/main.py: the spinner turns on DEBUG logging everywhere
    runner.execute_from_commandline()


if __name__ == "__main__":
    main(*sys.argv[1:4])
