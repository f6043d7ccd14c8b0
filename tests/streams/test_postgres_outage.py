"""Postgres stopped mid-stream: the partition waits, and no command is lost once it is back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from streams.stack.stack import LocalStack
from tests.support.pipeline import Pipeline, command, unique
from tests.support.private_stack import private_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def outage_pipeline(
    tmp_path_factory: pytest.TempPathFactory, logs_dir: Path
) -> AsyncIterator[tuple[LocalStack, Pipeline]]:
    with private_stack(tmp_path_factory.mktemp("outage"), 19192) as (stack, env):
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
