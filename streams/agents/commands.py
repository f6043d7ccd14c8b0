"""The command agent: batches per fetch, processed durably, acked only after success."""

from __future__ import annotations

from typing import Any

import faust
import structlog

from streams.processor import CommandProcessor, Record
from streams.runtime import Runtime
from streams.settings import Settings
from streams.state_table import JobStateTable

log = structlog.get_logger(__name__)


def register(app: faust.App, topic: faust.TopicT, table: Any, runtime: Runtime, settings: Settings) -> None:
    cache = JobStateTable(table)

    @app.agent(topic, name="jobstream.commands")
    async def process_commands(stream: faust.StreamT[bytes]) -> None:
        await runtime.start()
        processor = CommandProcessor(runtime.store, cache, runtime.producer, settings.topics)
        async for events in stream.take_events(settings.batch_max, within=settings.batch_within_s):
            # An extra reference keeps Faust from acking (and committing) a batch the worker was
            # stopped in the middle of: take_events acks in a `finally`, even on cancellation.
            for event in events:
                event.message.incref()
            records = [_record(event) for event in events]
            result = await processor.process(records)
            for event in events:
                event.ack()
            log.debug(
                "batch.done",
                size=len(records),
                applied=result.applied,
                rejected=result.rejected,
                duplicates=result.duplicates,
                dead_lettered=result.dead_lettered,
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
