"""The scheduling agent: terminal status events with a callback URL become durable delivery rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import faust
import orjson
import structlog

from schemas.callbacks import build_payload
from schemas.vocabulary import EventType, Status
from storage.callback_queue import DeliveryStore, NewDelivery
from streams import tracing
from streams.callbacks import metrics
from streams.kafka.runtime import Runtime
from streams.kafka.settlement import Handler
from streams.settings import Settings

log = structlog.get_logger(__name__)

_STATUS_CHANGED = EventType.STATUS_CHANGED.value.encode()


def delivery_for_event(value: bytes | None, traceparent: str | None = None) -> NewDelivery | None:
    """The delivery a `jobs.events` record calls for, or None (not terminal, no URL, not an event).

    The webhook-id is the event's own `event_id` ("{job_id}:{seq}"), stable across re-emissions; the
    event's trace context (its record's `traceparent` header) goes with every attempt.
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
    return NewDelivery(
        event_id, job["id"], job.get("organization_id"), str(job["callback_url"]), payload, traceparent
    )


def build_handler(runtime: Runtime, settings: Settings) -> Handler:
    """The events agent's callback step (see streams/worker/downstream.py): schedule, don't deliver."""
    store = DeliveryStore(runtime.engine, settings.deployment)

    async def handle(events: Sequence[faust.EventT]) -> None:
        found = (
            delivery_for_event(e.message.value, tracing.traceparent_in(e.message.headers)) for e in events
        )
        deliveries = [d for d in found if d is not None]
        if deliveries:
            added = await store.add(deliveries)
            metrics.SCHEDULED.inc(added)
            log.info("callbacks.scheduled", deliveries=len(deliveries), new=added)

    return handle


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
