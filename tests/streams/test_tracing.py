"""One trace from `POST /commands` to the callback request (docs/contract.md §11): the API, the worker,
the events topic and the receiver all see the same W3C trace id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from streams import tracing
from streams.api.app import create_api
from streams.api.auth import TokenTable
from streams.devtools.stack.stack import LocalStack
from tests.streams.api.harness import serving
from tests.support.callback_receivers import Receiver
from tests.support.pipeline import Pipeline, base_env, unique

pytestmark = pytest.mark.e2e

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


def trace_id(traceparent: str | None) -> str | None:
    return traceparent.split("-")[1] if traceparent else None


@pytest.fixture(scope="module")
async def traced(stack: LocalStack, logs_dir: Path) -> AsyncIterator[tuple[Pipeline, str]]:
    """A worker allowed to call back on loopback, and an API in front of it (this process makes spans)."""
    tracing.configure("jobstream-tests")
    pipe = Pipeline(base_env(), logs_dir, JOBSTREAM_CALLBACK_ALLOW_CIDRS="127.0.0.1/32")
    pipe.start_worker()
    try:
        await pipe.wait_ready()
        async with serving(create_api(pipe.settings, TokenTable({"t": "org-trace"}))) as url:
            yield pipe, url
    finally:
        await pipe.close()


async def _headers_on(pipe: Pipeline, topic: str, job_id: str, count: int) -> list[str | None]:
    found = await pipe.read_topic(topic, lambda m: m.key == job_id.encode(), count)
    return [tracing.traceparent_in(m.headers) for m in found]


async def test_one_trace_from_the_request_to_the_callback(traced: tuple[Pipeline, str]) -> None:
    pipe, url = traced
    receiver = Receiver()
    try:
        job_id = unique("traced")
        caller = f"00-{TRACE_ID}-{CALLER_SPAN}-01"
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": "Bearer t"}) as api:
            created = await api.post(
                "/commands", json={"type": "create", "job_id": job_id, "callback_url": receiver.url()}
            )
            assert created.status_code == 202
            done = await api.post(
                "/commands",
                json={"type": "transition", "job_id": job_id, "status": "completed"},
                headers={"traceparent": caller},
            )
            assert done.status_code == 202

        async def delivered() -> bool:
            return bool(receiver.requests)

        await pipe.wait_for(delivered, what="the callback")
        callback = receiver.requests[0].headers.get("traceparent")
        assert trace_id(callback) == TRACE_ID and CALLER_SPAN not in str(callback)  # continued, not copied
        commands = await _headers_on(pipe, pipe.settings.topics.commands, job_id, 2)
        events = await _headers_on(pipe, pipe.settings.topics.events, job_id, 2)
        # The create had no trace: the API started one, and its event carries it on.
        assert trace_id(commands[0]) is not None and trace_id(events[0]) == trace_id(commands[0])
        assert trace_id(commands[0]) != TRACE_ID
        assert [trace_id(commands[1]), trace_id(events[1])] == [TRACE_ID, TRACE_ID]
        assert len({commands[1], events[1], callback}) == 3  # each hop its own span
    finally:
        receiver.close()


async def test_a_malformed_traceparent_starts_a_new_trace(traced: tuple[Pipeline, str]) -> None:
    pipe, url = traced
    job_id = unique("traced")
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": "Bearer t"}) as api:
        response = await api.post(
            "/commands", json={"type": "create", "job_id": job_id}, headers={"traceparent": "00-zz-yy-01"}
        )
        assert response.status_code == 202
    (carried,) = await _headers_on(pipe, pipe.settings.topics.commands, job_id, 1)
    assert carried is not None and len(trace_id(carried) or "") == 32


def test_record_headers_are_read_only_when_plausible() -> None:
    good = f"00-{TRACE_ID}-{CALLER_SPAN}-01"
    assert tracing.traceparent_in([("other", b"x"), ("traceparent", good.encode())]) == good
    assert tracing.traceparent_in([("traceparent", b"0" * (tracing.MAX_HEADER_BYTES + 1))]) is None
    assert tracing.traceparent_in(None) is None
    assert tracing.record_headers(None) == ()


def test_untraced_work_makes_no_span() -> None:
    assert tracing.mark("jobstream.command", None) is None
    with tracing.span("jobstream.command", None) as carried:
        assert carried is None
