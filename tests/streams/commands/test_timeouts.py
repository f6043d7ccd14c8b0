"""A row lock held by a zombie worker: the batch times out, says so in the log, and applies once freed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from streams.devtools.stack.stack import LocalStack
from tests.support.pipeline import Pipeline, base_env, command, unique

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def impatient_pipeline(stack: LocalStack, logs_dir: Path) -> AsyncIterator[Pipeline]:
    pipe = Pipeline(base_env(), logs_dir, JOBSTREAM_PG_LOCK_TIMEOUT_S="0.5")
    pipe.start_worker()
    await pipe.wait_ready()
    yield pipe
    await pipe.close()


async def test_a_held_lock_is_a_logged_timeout_not_a_silent_stall(impatient_pipeline: Pipeline) -> None:
    pipe = impatient_pipeline
    job = unique("locked")
    await pipe.send_raw(job.encode(), command(job, "create"))
    await pipe.events(job, 1)
    log = pipe.logs / f"{pipe.namespace}-w0.log"
    zombie = await asyncpg.connect(pipe.settings.postgres_url)
    try:
        transaction = zombie.transaction()
        await transaction.start()
        await zombie.execute("SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE", job)
        await pipe.send_raw(job.encode(), command(job, "transition", status="running"))

        async def timed_out() -> bool:
            return any(
                '"jobstream.commands.retry"' in line and "lock timeout" in line
                for line in log.read_text().splitlines()
            )

        await pipe.wait_for(timed_out, timeout_s=30, what="a retry log line naming the lock timeout")
        row = await pipe.job_row(job)
        assert row is not None and row["seq"] == 1, "nothing applied while the lock is held"
        await transaction.rollback()
    finally:
        await zombie.close()
    events = await pipe.events(job, 2)
    assert events[1]["event_id"] == f"{job}:2" and events[1]["job"]["status"] == "running"
