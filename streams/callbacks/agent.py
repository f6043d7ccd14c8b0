"""The scheduling agent: terminal status events with a callback URL become durable delivery rows."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import faust
import orjson
import structlog

from schemas.vocabulary import EventType, Status
from streams.callbacks import metrics
from streams.callbacks.deliveries import DeliveryStore, NewDelivery
from streams.callbacks.payload import build_payload
from streams.runtime import Runtime
from streams.settings import Settings

log = structlog.get_logger(__name__)

BACKOFF_BASE_S = 0.1
BACKOFF_CAP_S = 5.0
_STATUS_CHANGED = EventType.STATUS_CHANGED.value.encode()


def delivery_for_event(value: bytes | None) -> NewDelivery | None:
    """The delivery a `jobs.events` record calls for, or None (not terminal, no URL, not an event).

    The webhook-id is the event's own `event_id` ("{job_id}:{seq}"), stable across re-emissions.
    """
    if not value or _STATUS_CHANGED not in value:  # most events: skip parsing the whole job
        return None
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(event, dict) or event.get("type") != EventType.STATUS_CHANGED.value:
        return None
    job, event_id = event.get("job"), event.get("event_id")
    if not isinstance(job, dict) or not isinstance(event_id, str) or not isinstance(job.get("id"), str):
        return None
    if not job.get("callback_url") or not _is_terminal(event.get("to_status")):
        return None
    payload = build_payload({**job, "completed_at": _datetime(job.get("completed_at"))}, event_id)
    return NewDelivery(event_id, job["id"], job.get("organization_id"), str(job["callback_url"]), payload)


async def schedule(store: DeliveryStore, deliveries: Sequence[NewDelivery]) -> int:
    """Insert until it succeeds: the caller acks the batch only afterwards, so nothing is dropped."""
    attempt = 0
    while True:
        try:
            return await store.add(deliveries)
        except Exception as exc:  # Postgres unreachable: this partition waits, others are unaffected
            delay = random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))
            log.warning(
                "callbacks.schedule_retry",
                error=f"{type(exc).__name__}: {exc}",
                deliveries=len(deliveries),
                attempt=attempt + 1,
                retry_in_s=round(delay, 3),
                exc_info=attempt % 10 == 0,
            )
            await asyncio.sleep(delay)
            attempt += 1


def register(app: faust.App, runtime: Runtime, settings: Settings) -> None:
    topic = app.topic(
        settings.topics.events,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
    )

    @app.agent(topic, name="jobstream.callbacks.schedule")
    async def schedule_callbacks(stream: faust.StreamT[bytes]) -> None:
        await runtime.start()
        store = DeliveryStore(runtime.engine, settings.app_id)
        batches = stream.take_events(  # type: ignore[attr-defined]  # missing from StreamT's stubs
            settings.batch_max, within=settings.batch_within_s
        )
        async for events in batches:
            # As in the command agent: an extra reference keeps take_events from acking (committing)
            # a batch before its rows are durable, even when the worker stops mid-batch.
            for event in events:
                event.message.incref()
            deliveries = [d for d in (delivery_for_event(e.message.value) for e in events) if d is not None]
            if deliveries:
                added = await schedule(store, deliveries)
                metrics.SCHEDULED.inc(added)
                log.info("callbacks.scheduled", deliveries=len(deliveries), new=added)
            for event in events:
                event.ack()


def _is_terminal(status: Any) -> bool:
    try:
        return Status(status).is_terminal
    except ValueError:
        return False


def _datetime(value: Any) -> Any:
    """Events carry ISO strings; parsed, the payload sends them in UTC with "Z" like every callback."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value
