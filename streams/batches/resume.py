"""The resumption agent: a completed batch -> one `jobs.resume` notice per item job (docs/contract.md §8)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import faust
import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.vocabulary import EventType, JobType, Status
from storage.queries.batches import ResumeItem, resume_items
from streams.kafka.producer import DurableProducer, OutRecord, json_record
from streams.kafka.runtime import Runtime
from streams.kafka.settlement import Handler
from streams.recent import RecentlySeen
from streams.settings import Settings, Topics

log = structlog.get_logger(__name__)

MAX_EVENTS = 500
# Completion event ids already handled by this worker: a re-emitted event (a duplicate end command)
# arrives soon after the original, so a modest window removes nearly every repeat.
SEEN_WINDOW = 10_000
# Cheap pre-filter: most events are not status changes and need no JSON parsing.
_MARKER = EventType.STATUS_CHANGED.value.encode()
# Items that ran to an answer before a cancel took effect: those a cancelled batch still resumes.
FINISHED_RESULTS = frozenset({"succeeded", "errored"})


def notice(batch_id: str, item: ResumeItem) -> dict[str, Any]:
    """`notice_id` depends only on the batch and item, so consumers drop repeats by it."""
    return {
        "notice_id": f"resume:{batch_id}:{item.custom_id}",
        "job_id": item.job_id,
        "agent_id": item.agent_id,
        "batch_id": batch_id,
        "custom_id": item.custom_id,
        "result_status": item.result_status,
    }


def batch_status_change(
    value: bytes | None, to_status: Status
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(event, job) when this event is a batch job entering `to_status`; shared by the batch event steps."""
    if value is None or _MARKER not in value:
        return None
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None  # not ours to judge: the events topic is the service's own output
    job = event.get("job") if isinstance(event, dict) else None
    if (
        isinstance(job, dict)
        and event.get("type") == EventType.STATUS_CHANGED.value
        and event.get("to_status") == to_status.value
        and job.get("job_type") == JobType.BATCH.value
    ):
        return event, job
    return None


def completed_batch(value: bytes | None) -> tuple[str, str] | None:
    """(event_id, batch job id) when this event is a batch job entering `completed`."""
    change = batch_status_change(value, Status.COMPLETED)
    if change is None:
        return None
    event, _ = change
    return str(event["event_id"]), str(event["job_id"])


def finished_notices(topics: Topics, batch_id: str, items: Sequence[ResumeItem]) -> list[OutRecord]:
    """A cancelled batch's notices: only for items the provider finished (contract §8 "Cancel")."""
    return [
        json_record(topics.resume, item.job_id, notice(batch_id, item))
        for item in items
        if item.result_status in FINISHED_RESULTS
    ]


class ResumeHandler:
    """Publishes every item's notice before the completion event is acked (at least once).

    Items are read from Postgres, which is already durable when the event is published. A repeat
    of the same completion (re-emitted by a duplicate command, or redelivered after a crash)
    publishes the same notices again, with the same `notice_id`s; the in-memory window only keeps
    the common case quiet.
    """

    def __init__(self, engine: AsyncEngine, producer: DurableProducer, topics: Topics) -> None:
        self.engine = engine
        self.producer = producer
        self.topics = topics
        self._seen: RecentlySeen[str] = RecentlySeen(SEEN_WINDOW)

    async def handle(self, values: Sequence[bytes | None]) -> None:
        completions = [c for c in map(completed_batch, values) if c is not None]
        for event_id, batch_id in dict.fromkeys(completions):
            if event_id in self._seen:
                continue
            items = await resume_items(self.engine, batch_id)
            await self.producer.send_all(
                json_record(self.topics.resume, item.job_id, notice(batch_id, item)) for item in items
            )
            self._seen.add(event_id)  # only once its notices are out: a failed round sends them again
            log.info("batches.resumed", batch_id=batch_id, event_id=event_id, notices=len(items))


def build_handler(runtime: Runtime, settings: Settings) -> Handler:
    """The events agent's resume step (see streams/worker/downstream.py)."""
    handler = ResumeHandler(runtime.engine, runtime.producer, settings.topics)

    async def handle(events: Sequence[faust.EventT]) -> None:
        await handler.handle([event.message.value for event in events])

    return handle
