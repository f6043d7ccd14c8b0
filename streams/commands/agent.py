"""The command agent: batches per fetch, each on its job's partition, processed durably, acked only after
(a large batch as one transaction per group of partitions, at once: streams/commands/partition_groups.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import faust
import structlog

from streams import tracing
from streams.commands.forwarding import Forwarder
from streams.commands.partition_groups import process_in_groups
from streams.commands.processor import CommandProcessor, Record
from streams.commands.state_table import JobStateTable
from streams.kafka.consuming import durable_agent, raw_topic
from streams.kafka.runtime import Runtime
from streams.kafka.settlement import GiveUp, Handler
from streams.settings import Settings

log = structlog.get_logger(__name__)


def register(app: faust.App, table: Any, runtime: Runtime, settings: Settings) -> None:
    cache = JobStateTable(table)

    def build_handler() -> tuple[Handler, GiveUp | None]:
        processor = CommandProcessor(runtime.store, cache, runtime.producer, settings.topics)
        forwarder = Forwarder(runtime.producer, settings.topics.commands)

        async def handle(events: Sequence[faust.EventT]) -> None:
            # Records on another partition than their job's go there first; only the rest is ours.
            local = await forwarder.forward_misrouted([_record(event) for event in events])
            if not local:
                return
            results = await process_in_groups(processor.process, local)
            log.debug(
                "batch.done",
                size=len(events),
                transactions=len(results),
                applied=sum(r.n_applied for r in results),
                rejected=sum(r.n_rejected for r in results),
                duplicates=sum(r.n_duplicates for r in results),
                dead_lettered=sum(r.n_dead_lettered for r in results),
            )

        async def give_up(event: faust.EventT, error: Exception) -> None:
            await processor.give_up(_record(event), error)

        return handle, give_up

    topic = raw_topic(app, settings.topics.commands, settings.partitions)
    durable_agent(
        app,
        topic,
        "jobstream.commands",
        runtime,
        build_handler,
        settings.topics.deadletter,
        settings.batch_max,
        settings.batch_within_s,
    )


def _record(event: faust.EventT) -> Record:
    message = event.message
    timestamp = message.timestamp
    return Record(
        key=message.key,
        value=message.value,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp_ms=int(timestamp * 1000) if timestamp else None,
        context=event,
        traceparent=tracing.traceparent_in(message.headers),
    )
