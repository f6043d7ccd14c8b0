"""The live view: new events of the caller's organization from `jobs.events`, as server-sent events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from fastapi import APIRouter, Request, Response, status
from fastapi.responses import StreamingResponse

from streams.api.console.render import HEADERS, page
from streams.api.console.session import SignedIn
from streams.api.state import State
from streams.kafka.follow import position_at_edge

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/ui", include_in_schema=False)

MAX_STREAMS = 32  # each open live view holds a Kafka consumer of its own
KEEPALIVE_MS = 15_000  # a comment this often keeps proxies from closing an idle stream
SHOWN = ("event_id", "type", "job_id", "seq", "occurred_at")


@router.get("/live")
async def live_page(request: Request, session: SignedIn) -> Response:
    return page(request, "live.html", {"session": session})


@router.get("/live/events")
async def live_events(request: Request, session: SignedIn, state: State) -> Response:
    """`text/event-stream`: `: ready` once the consumer sits at the end of every partition, then one
    `data:` line (JSON) per new event whose job belongs to the caller's organization."""
    streams: list[object] = request.app.state.console_streams
    if len(streams) >= MAX_STREAMS:
        return Response("too many live views open; try again later", status.HTTP_503_SERVICE_UNAVAILABLE)
    return StreamingResponse(
        _follow(state, session.organization, streams),
        media_type="text/event-stream",
        headers={**HEADERS, "X-Accel-Buffering": "no"},
    )


async def _follow(state: State, organization: str, streams: list[object]) -> AsyncIterator[str]:
    marker = object()
    streams.append(marker)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=state.settings.bootstrap_servers,
        client_id=f"{state.settings.app_id}-console",
        group_id=None,  # from the end, no group: a view, not a consumer of record
        auto_offset_reset="latest",
        enable_auto_commit=False,
        isolation_level="read_committed",
        metadata_max_age_ms=2000,
    )
    try:
        await consumer.start()
        await position_at_edge(consumer, state.settings.topics.events, assign=True, from_beginning=False)
        yield ": ready\n\n"
        while True:
            batches = await consumer.getmany(timeout_ms=KEEPALIVE_MS)
            if not batches:
                yield ": keep-alive\n\n"
            for records in batches.values():
                for record in records:
                    shown = visible(record.value, organization)
                    if shown is not None:
                        yield f"data: {orjson.dumps(shown).decode()}\n\n"
    except KafkaError as exc:
        log.warning("console_live_kafka_error", error=repr(exc))
        yield "event: unavailable\ndata: {}\n\n"
    finally:
        streams.remove(marker)
        await consumer.stop()


def visible(value: bytes | None, organization: str) -> dict[str, Any] | None:
    """What the live view shows of one record: None unless it is an event of the organization's job."""
    try:
        document = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    job = document.get("job") if isinstance(document, dict) else None
    if not isinstance(job, dict) or job.get("organization_id") != organization:
        return None
    return {**{name: document.get(name) for name in SHOWN}, "status": job.get("status")}
