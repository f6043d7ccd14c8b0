"""Postgres stopped mid-stream: the partition waits, and no command is lost once it is back."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from streams.devtools.stack.stack import LocalStack
from tests.support.pipeline import Pipeline, command, unique
from tests.support.private_stack import private_stack

pytestmark = pytest.mark.e2e
SHUTDOWN_GRACE_S = 20


@pytest.fixture(scope="module")
async def outage_pipeline(
    tmp_path_factory: pytest.TempPathFactory, logs_dir: Path
) -> AsyncIterator[tuple[LocalStack, Pipeline]]:
    with private_stack(tmp_path_factory.mktemp("outage")) as (stack, env):
        pipe = Pipeline(env, logs_dir)
        pipe.start_worker()
        await pipe.wait_ready()
        try:
            yield stack, pipe
        finally:
            await pipe.close()


async def test_no_command_is_lost_while_postgres_is_down(
    outage_pipeline: tuple[LocalStack, Pipeline],
) -> None:
    stack, pipe = outage_pipeline
    jobs = [unique("outage") for _ in range(40)]
    for job in jobs[:20]:
        await pipe.send_raw(job.encode(), command(job, "create"))
    stack.postgres.kill()
    try:
        for job in jobs[20:]:
            await pipe.send_raw(job.encode(), command(job, "create"))
        for job in jobs:
            await pipe.send_raw(job.encode(), command(job, "transition", status="running"))
        await asyncio.sleep(3)  # the worker retries with backoff meanwhile; nothing may be acked
    finally:
        stack.postgres.up()
    seen = await pipe.events_many({job: 2 for job in jobs}, timeout_s=90)
    for job in jobs:
        assert [e["event_id"] for e in seen[job][:2]] == [f"{job}:1", f"{job}:2"]
    rows = await pipe.fetch("SELECT id, status, seq FROM jobs WHERE id = ANY($1::text[])", jobs)
    assert {(r["id"], r["status"], r["seq"]) for r in rows} == {(job, "running", 2) for job in jobs}
    retries = [
        line
        for line in (pipe.logs / f"{pipe.namespace}-w0.log").read_text().splitlines()
        if '"jobstream.commands.retry"' in line
    ]
    assert retries, "the worker never noticed Postgres was down"


async def test_a_retrying_worker_stops_on_sigterm(outage_pipeline: tuple[LocalStack, Pipeline]) -> None:
    """Retrying an outage must not make the worker deaf: SIGTERM ends it within its grace period, and the
    command it was retrying is applied by the next worker once Postgres is back."""
    stack, pipe = outage_pipeline
    log = pipe.logs / f"{pipe.namespace}-w0.log"
    retries_before = log.read_text().count('"jobstream.commands.retry"')
    job = unique("sigterm")
    stack.postgres.kill()
    try:
        await pipe.send_raw(job.encode(), command(job, "create"))

        async def retrying() -> bool:
            return log.read_text().count('"jobstream.commands.retry"') > retries_before

        await pipe.wait_for(retrying, what="the worker retrying the batch")
        worker = pipe.workers[0]
        assert worker.proc is not None
        worker.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(worker.proc.wait, SHUTDOWN_GRACE_S)
        assert code is not None and code != -signal.SIGKILL
    finally:
        stack.postgres.up()
    pipe.start_worker()
    seen = await pipe.events(job, 1, timeout_s=90)
    assert seen[0]["event_id"] == f"{job}:1", "the command retried at shutdown was never committed"
