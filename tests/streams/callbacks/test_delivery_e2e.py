"""Callbacks end to end (docs/contract.md §7): real workers, Kafka, Postgres, HTTP receivers on loopback."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from standardwebhooks import Webhook

from streams.devtools.stack.stack import LocalStack
from tests.support.callback_receivers import Receiver
from tests.support.pipeline import Pipeline, base_env, command, unique

pytestmark = pytest.mark.e2e

MakeReceiver = Callable[..., Receiver]
SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()
FAST_RETRIES = {
    "JOBSTREAM_CALLBACK_SECRET": SECRET,
    "JOBSTREAM_CALLBACK_TIMEOUT_S": "1",
    "JOBSTREAM_CALLBACK_BACKOFF_BASE_S": "0.05",
    "JOBSTREAM_CALLBACK_BACKOFF_CAP_S": "0.2",
    "JOBSTREAM_CALLBACK_MAX_ATTEMPTS": "4",
}


async def _pipeline(logs_dir: Path, **env: str) -> Pipeline:
    pipe = Pipeline(base_env(), logs_dir, **env)
    pipe.start_worker()
    await pipe.wait_ready()
    return pipe


@pytest.fixture(scope="module")
async def pipe(stack: LocalStack, logs_dir: Path) -> AsyncIterator[Pipeline]:
    """Loopback 127.0.0.1 allow-listed; 1 s timeout, backoff capped at 0.2 s, 4 attempts."""
    pipeline = await _pipeline(logs_dir, JOBSTREAM_CALLBACK_ALLOW_CIDRS="127.0.0.1/32", **FAST_RETRIES)
    yield pipeline
    await pipeline.close()


@pytest.fixture(scope="module")
async def strict(stack: LocalStack, logs_dir: Path) -> AsyncIterator[Pipeline]:
    """Only 127.0.0.2 allow-listed (127.0.0.1, ::1 stay forbidden); a 10 s timeout for slow receivers."""
    env = {**FAST_RETRIES, "JOBSTREAM_CALLBACK_TIMEOUT_S": "10"}
    pipeline = await _pipeline(logs_dir, JOBSTREAM_CALLBACK_ALLOW_CIDRS="127.0.0.2/32", **env)
    yield pipeline
    await pipeline.close()


@pytest.fixture
async def crashy(stack: LocalStack, logs_dir: Path) -> AsyncIterator[Pipeline]:
    """A worker of its own to kill -9; a short Kafka session so its replacement takes over quickly,
    and a backoff cap high enough that Retry-After decides when the next attempt is due."""
    env = {
        **FAST_RETRIES,
        "JOBSTREAM_CALLBACK_BACKOFF_CAP_S": "30",
        "BROKER_SESSION_TIMEOUT": "10",
        "BROKER_HEARTBEAT_INTERVAL": "1",
    }
    pipeline = await _pipeline(logs_dir, JOBSTREAM_CALLBACK_ALLOW_CIDRS="127.0.0.1/32", **env)
    yield pipeline
    await pipeline.close()


async def finish_job(pipe: Pipeline, url: str, **create: Any) -> str:
    """A new job with `url` as callback_url, taken straight to completed; its terminal event is seq 2."""
    job = unique("cb")
    await pipe.send_raw(job.encode(), command(job, "create", callback_url=url, **create))
    await pipe.send_raw(
        job.encode(),
        command(job, "transition", command_id=f"{job}-done", status="completed", stop_reason="end_turn"),
    )
    return job


async def recorded(pipe: Pipeline, job: str, timeout_s: float = 30) -> asyncpg.Record:
    """The job row once a record_callback command has been applied to it."""

    async def check() -> asyncpg.Record | None:
        row = await pipe.job_row(job)
        return row if row is not None and row["callback_sent_at"] is not None else None

    row: asyncpg.Record = await pipe.wait_for(check, timeout_s, f"callback of {job} recorded")
    return row


async def delivery(pipe: Pipeline, job: str) -> asyncpg.Record | None:
    rows = await pipe.fetch("SELECT * FROM callback_deliveries WHERE event_id = $1", f"{job}:2")
    return rows[0] if rows else None


def webhook_ids(receiver: Receiver) -> set[str]:
    return {r.headers["webhook-id"] for r in receiver.requests}


async def test_delivery_is_signed_recorded_and_leaves_the_status_alone(
    pipe: Pipeline, make_receiver: MakeReceiver
) -> None:
    receiver = make_receiver()
    job = await finish_job(pipe, receiver.url(), metadata={"k": "v"}, organization_id="org-1")
    row = await recorded(pipe, job)

    [request] = receiver.requests
    body = Webhook(SECRET).verify(request.body, request.headers)  # raises unless the signature is valid
    assert request.headers["webhook-id"] == f"{job}:2"
    assert list(orjson.loads(request.body)) == [
        "event_id", "job_id", "status", "stop_reason", "completed_at", "metadata"
    ]  # fmt: skip
    assert body["event_id"] == f"{job}:2" and body["job_id"] == job
    assert (body["status"], body["stop_reason"], body["metadata"]) == ("completed", "end_turn", {"k": "v"})
    assert body["completed_at"].endswith("Z")

    assert (row["status"], row["callback_status_code"], row["callback_attempts"]) == ("completed", 200, 1)
    assert row["callback_error"] is None
    events = await pipe.events(job, 3)
    assert [e["type"] for e in events] == ["job.created", "job.status_changed", "job.callback_recorded"]
    assert events[2]["command_id"] == f"callback:{job}:2"
    assert events[2]["job"]["status"] == "completed" and events[2]["job"]["callback_status_code"] == 200
    stored = await delivery(pipe, job)
    assert stored is not None and (stored["state"], stored["attempts"]) == ("delivered", 1)


async def test_500_500_200_is_three_attempts_then_success(
    pipe: Pipeline, make_receiver: MakeReceiver
) -> None:
    receiver = make_receiver().respond(500).respond(500)
    job = await finish_job(pipe, receiver.url())
    row = await recorded(pipe, job)
    assert (row["callback_status_code"], row["callback_attempts"], row["callback_error"]) == (200, 3, None)
    assert row["status"] == "completed"
    assert len(receiver.requests) == 3
    assert webhook_ids(receiver) == {f"{job}:2"}, "every retry reuses the webhook-id"
    assert len({r.body for r in receiver.requests}) == 1, "every retry sends the same body"


async def test_404_is_final_after_one_attempt(pipe: Pipeline, make_receiver: MakeReceiver) -> None:
    receiver = make_receiver().respond(404)
    job = await finish_job(pipe, receiver.url())
    row = await recorded(pipe, job)
    assert (row["callback_status_code"], row["callback_attempts"], row["callback_error"]) == (
        404,
        1,
        "HTTP 404",
    )
    assert row["status"] == "completed"
    await asyncio.sleep(1.0)  # well past the 0.2 s backoff cap: a retry would have happened by now
    assert len(receiver.requests) == 1
    stored = await delivery(pipe, job)
    assert stored is not None and stored["state"] == "failed"


async def test_exhausted_delivery_says_so(pipe: Pipeline, make_receiver: MakeReceiver) -> None:
    receiver = make_receiver()
    for _ in range(4):
        receiver.respond(503)
    job = await finish_job(pipe, receiver.url())
    row = await recorded(pipe, job)
    assert (row["callback_status_code"], row["callback_attempts"]) == (503, 4)
    assert row["callback_error"] == "delivery exhausted after 4 attempts; last error: HTTP 503"
    assert row["status"] == "completed"
    assert len(receiver.requests) == 4


async def test_receiver_hanging_past_the_timeout_is_retried(
    pipe: Pipeline, make_receiver: MakeReceiver
) -> None:
    receiver = make_receiver().hang(5)  # the 1 s timeout cuts it off; the next attempt gets a 200
    job = await finish_job(pipe, receiver.url())
    row = await recorded(pipe, job)
    assert (row["callback_status_code"], row["callback_attempts"], row["callback_error"]) == (200, 2, None)
    assert len(receiver.requests) == 2


async def test_a_re_emitted_terminal_event_is_not_delivered_twice(
    pipe: Pipeline, make_receiver: MakeReceiver
) -> None:
    receiver = make_receiver()
    job = await finish_job(pipe, receiver.url())
    await recorded(pipe, job)
    # The same transition again is a duplicate: the worker re-emits the stored event, same event_id.
    await pipe.send_raw(
        job.encode(), command(job, "transition", command_id=f"{job}-done", status="completed")
    )
    events = await pipe.events(job, 4)
    assert [e["event_id"] for e in events] == [f"{job}:1", f"{job}:2", f"{job}:3", f"{job}:2"]
    await asyncio.sleep(1.0)
    assert len(receiver.requests) == 1


async def test_slow_endpoint_does_not_delay_another_jobs_callback(
    strict: Pipeline, make_receiver: MakeReceiver
) -> None:
    slow = make_receiver("127.0.0.2").hang(30)  # held open until the worker's 10 s timeout
    fast = make_receiver("127.0.0.2")
    slow_job = await finish_job(strict, slow.url())
    await strict.wait_for(_async(lambda: slow.requests), 30, "the slow receiver to be called")

    started = time.monotonic()
    fast_job = await finish_job(strict, fast.url())
    while (row := await strict.job_row(fast_job)) is None or row["callback_sent_at"] is None:
        assert time.monotonic() - started < 8, "the fast callback waited for the slow one"
        await asyncio.sleep(0.05)
    latency = time.monotonic() - started
    assert row["callback_status_code"] == 200

    slow_row = await strict.job_row(slow_job)
    assert slow_row is not None and slow_row["callback_sent_at"] is None, "the slow one is not done yet"
    assert len(slow.requests) == 1, "the slow receiver is still holding its first request"
    print(f"fast callback recorded {latency:.2f}s after its job was finished, slow one still hanging")


async def test_ssrf_blocked_urls_are_final_errors_without_any_connection(
    strict: Pipeline, make_receiver: MakeReceiver, ipv6_loopback: bool
) -> None:
    v4 = make_receiver("127.0.0.1")
    allowed = make_receiver("127.0.0.2")
    cases = {
        v4.url(): ("127.0.0.1 is loopback",),
        v4.url(host="localhost"): ("localhost resolves to", "loopback"),
        v4.url(host="[::ffff:127.0.0.1]"): ("loopback (as 127.0.0.1)",),
        "http://169.254.169.254/latest/meta-data/": ("169.254.169.254 is link-local",),
        f"http://user:secret@127.0.0.2:{allowed.port}/hook": ("credentials (userinfo)",),
    }
    listeners = [v4, allowed]
    if ipv6_loopback:
        v6 = make_receiver("::1")
        listeners.append(v6)
        cases[v6.url()] = ("::1 is loopback",)
    jobs = {await finish_job(strict, url): reasons for url, reasons in cases.items()}

    for job, reasons in jobs.items():
        row = await recorded(strict, job)
        assert row["callback_status_code"] is None and row["callback_attempts"] == 1
        error = row["callback_error"]
        assert error.startswith("blocked URL: ") and all(r in error for r in reasons), error
        assert row["status"] == "completed"
        stored = await delivery(strict, job)
        assert stored is not None and (stored["state"], stored["attempts"]) == ("failed", 1)
    assert [listener.connections for listener in listeners] == [0] * len(listeners)


async def test_redirect_to_a_forbidden_address_is_not_followed(
    strict: Pipeline, make_receiver: MakeReceiver
) -> None:
    forbidden = make_receiver("127.0.0.1")
    allowed = make_receiver("127.0.0.2").respond(302, {"location": forbidden.url()})
    job = await finish_job(strict, allowed.url())
    row = await recorded(strict, job)
    assert (row["callback_status_code"], row["callback_attempts"]) == (302, 1)
    assert "not followed" in row["callback_error"]
    assert len(allowed.requests) == 1
    assert forbidden.connections == 0


async def test_deliveries_survive_a_killed_worker(crashy: Pipeline, make_receiver: MakeReceiver) -> None:
    between = make_receiver().respond(503, {"retry-after": "5"})  # attempt 2 is due 5 s later
    in_flight = make_receiver().hang(60)  # attempt 1 is still open when the worker dies
    between_job = await finish_job(crashy, between.url())
    in_flight_job = await finish_job(crashy, in_flight.url())

    async def both_under_way() -> bool:
        row = await delivery(crashy, between_job)
        return row is not None and row["attempts"] == 1 and len(in_flight.requests) == 1

    await crashy.wait_for(both_under_way, 30, "one delivery between attempts, one mid-attempt")
    killed_at = time.monotonic()
    crashy.workers[0].kill()
    assert len(between.requests) == 1
    crashy.start_worker()

    between_row = await recorded(crashy, between_job, timeout_s=90)
    in_flight_row = await recorded(crashy, in_flight_job, timeout_s=90)
    print(f"both callbacks recorded {time.monotonic() - killed_at:.1f}s after kill -9")
    assert (between_row["callback_status_code"], between_row["callback_attempts"]) == (200, 2)
    assert len(between.requests) == 2
    # The lost attempt was never counted; its lease ran out and the replacement made it again.
    assert (in_flight_row["callback_status_code"], in_flight_row["callback_attempts"]) == (200, 1)
    assert len(in_flight.requests) == 2 and webhook_ids(in_flight) == {f"{in_flight_job}:2"}
    assert between_row["status"] == in_flight_row["status"] == "completed"


def _async(fn: Callable[[], Any]) -> Callable[[], Any]:
    async def call() -> Any:
        return fn()

    return call
