"""The downstream agent: one subscription to the events topic, each batch handed to every consumer step.

One Faust stream instead of one per concern halves the per-event cost Faust charges; every step is
idempotent (callback rows by event_id, resume notices by notice_id, cancel requests by batch job id), so
a retried batch is harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import faust

from streams.batches import cancels, resume
from streams.callbacks import scheduling as callbacks
from streams.kafka.consuming import durable_agent, raw_topic
from streams.kafka.runtime import Runtime
from streams.kafka.settlement import GiveUp, Handler
from streams.settings import Settings

STEPS: tuple[Callable[[Runtime, Settings], Handler], ...] = (
    callbacks.build_handler,
    resume.build_handler,
    cancels.build_handler,
)


def register(app: faust.App, runtime: Runtime, settings: Settings) -> None:
    def build_handler() -> tuple[Handler, GiveUp | None]:
        steps = [build(runtime, settings) for build in STEPS]

        async def handle(events: Sequence[faust.EventT]) -> None:
            for step in steps:
                await step(events)

        return handle, None  # a record that fails every time is dead-lettered

    topic = raw_topic(app, settings.topics.events, settings.partitions)
    durable_agent(
        app,
        topic,
        "jobstream.events",
        runtime,
        build_handler,
        settings.topics.deadletter,
        settings.batch_max,
        settings.batch_within_s,
    )
