"""The circuit breaker end to end (docs/contract.md §7): real workers, Kafka, Postgres and HTTP receiver;
the breaker's state is in Postgres, so it outlives a worker killed with kill -9."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from streams.devtools.stack.stack import LocalStack
from tests.streams.callbacks.test_delivery_e2e import FAST_RETRIES, delivery, finish_job, recorded
from tests.support.callback_receivers import Receiver
from tests.support.pipeline import Pipeline, base_env

pytestmark = pytest.mark.e2e

OPEN_S = 20  # long enough that the probe falls after the replacement worker is up


@pytest.fixture
async def breaking(stack: LocalStack, logs_dir: Path) -> AsyncIterator[Pipeline]:
    env = {
        **FAST_RETRIES,
        "JOBSTREAM_CALLBACK_ALLOW_CIDRS": "127.0.0.1/32",
        "JOBSTREAM_CALLBACK_BREAKER_FAILURES": "2",
        "JOBSTREAM_CALLBACK_BREAKER_OPEN_S": str(OPEN_S),
        "BROKER_SESSION_TIMEOUT": "10",
        "BROKER_HEARTBEAT_INTERVAL": "1",
    }
    pipeline = Pipeline(base_env(), logs_dir, **env)
    pipeline.start_worker()
    await pipeline.wait_ready()
    yield pipeline
    await pipeline.close()


async def test_an_open_breaker_survives_kill_9_and_closes_on_the_probe(
    breaking: Pipeline, make_receiver: Callable[..., Receiver]
) -> None:
    receiver = make_receiver().respond(503).respond(503)  # two failures open it; then it answers 200
    first = await finish_job(breaking, receiver.url())

    async def endpoint_open() -> bool:
        rows = await breaking.fetch("SELECT state, failures, next_probe_at FROM callback_endpoints")
        return len(rows) == 1 and rows[0]["state"] == "open"

    await breaking.wait_for(endpoint_open, 30, "the breaker to open")
    opened_at = time.monotonic()
    second = await finish_job(breaking, receiver.url("/second"))

    async def second_held() -> bool:
        row = await delivery(breaking, second)
        return row is not None and row["held"] and row["attempts"] == 0

    await breaking.wait_for(second_held, 30, "the second job's delivery deferred by the breaker")
    assert len(receiver.requests) == 2, "nothing was sent while open"
    breaking.workers[0].kill()
    breaking.start_worker()

    first_row = await recorded(breaking, first, timeout_s=120)
    second_row = await recorded(breaking, second, timeout_s=30)
    closed_after = time.monotonic() - opened_at
    print(f"breaker closed by the probe {closed_after:.1f}s after it opened (open period {OPEN_S}s)")
    assert closed_after >= OPEN_S - 1, "no attempt before the open period ended, kill or not"
    assert (first_row["callback_status_code"], first_row["callback_attempts"]) == (200, 3)
    assert (second_row["callback_status_code"], second_row["callback_attempts"]) == (200, 1)
    assert first_row["status"] == second_row["status"] == "completed"
    assert await breaking.fetch("SELECT * FROM callback_endpoints") == [], "closed: no failures on record"
    # Two failures, the probe (the first job's third attempt), the second job once: no tight loop.
    assert len(receiver.requests) == 4
    assert [r.headers["webhook-id"] for r in receiver.requests[:3]] == [f"{first}:2"] * 3
