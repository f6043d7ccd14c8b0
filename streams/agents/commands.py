"""The command agent: batches per fetch, processed durably, acked only after success."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import faust
import structlog

from streams.agents.consuming import Handler, durable_agent, raw_topic
from streams.processor import CommandProcessor, Record
from streams.runtime import Runtime
from streams.settings import Settings
from streams.state_table import JobStateTable

log = structlog.get_logger(__name__)


def register(app: faust.App, table: Any, runtime: Runtime, settings: Settings) -> None:
    cache = JobStateTable(table)

    def build_handler() -> Handler:
        processor = CommandProcessor(runtime.store, cache, runtime.producer, settings.topics)

        async def handle(events: Sequence[faust.EventT]) -> None:
            result = await processor.process([_record(event) for event in events])
            log.debug(
                "batch.done",
                size=len(events),
                applied=result.applied,
                rejected=result.rejected,
                duplicates=result.duplicates,
                dead_lettered=result.dead_lettered,
            )

        return handle

    topic = raw_topic(app, settings.topics.commands, settings.partitions)
    durable_agent(
        app, topic, "jobstream.commands", runtime, build_handler, settings.batch_max, settings.batch_within_s
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
    )
