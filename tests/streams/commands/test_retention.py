"""Retention (rule 14): terminal jobs older than the configured age are deleted, by the worker's leader
on a timer and by `jobstream prune` once; recent and unfinished jobs stay."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from streams.devtools.stack.stack import LocalStack
from tests.support.pipeline import Pipeline, base_env, unique

pytestmark = pytest.mark.e2e


async def _three_jobs(pipe: Pipeline) -> tuple[str, str, str]:
    """An old finished job, a recently finished one and an old unfinished one."""
    old, recent, running = unique("old"), unique("recent"), unique("running")
    for job in (old, recent):
        await pipe.client.create(job, status="running")
        await pipe.client.transition(job, "completed")
    await pipe.client.create(running, status="running")
    await pipe.events_many({old: 2, recent: 2, running: 1})
    await pipe.fetch(
        "UPDATE jobs SET completed_at = now() - interval '40 days', created_at = now() - interval '41 days'"
        " WHERE id = $1",
        old,
    )
    await pipe.fetch("UPDATE jobs SET created_at = now() - interval '41 days' WHERE id = $1", running)
    return old, recent, running


async def _assert_only_old_deleted(pipe: Pipeline, old: str, recent: str, running: str) -> None:
    async def deleted() -> bool:
        return await pipe.job_row(old) is None

    await pipe.wait_for(deleted, what=f"{old} deleted by retention")
    events = await pipe.events(old, 3)
    assert (events[-1]["type"], events[-1]["command_id"]) == ("job.deleted", f"retention:{old}")
    assert await pipe.job_row(recent) is not None and await pipe.job_row(running) is not None


@pytest.fixture
async def retaining(stack: LocalStack, logs_dir: Path) -> AsyncIterator[Pipeline]:
    """A pipeline of its own (its own database: retention must not touch other tests' jobs)."""
    async with _own_pipeline(
        logs_dir, JOBSTREAM_RETENTION_DAYS="30", JOBSTREAM_RETENTION_INTERVAL_S="0.5"
    ) as pipe:
        yield pipe


@pytest.fixture
async def keeping(stack: LocalStack, logs_dir: Path) -> AsyncIterator[Pipeline]:
    """Likewise, with retention off (the default)."""
    async with _own_pipeline(logs_dir) as pipe:
        yield pipe


@contextlib.asynccontextmanager
async def _own_pipeline(logs_dir: Path, **overrides: str) -> AsyncIterator[Pipeline]:
    pipe = Pipeline(base_env(), logs_dir, **overrides)
    pipe.start_worker()
    try:
        await pipe.wait_ready()
        yield pipe
    finally:
        await pipe.close()


async def test_the_worker_deletes_old_terminal_jobs(retaining: Pipeline) -> None:
    await _assert_only_old_deleted(retaining, *await _three_jobs(retaining))


async def test_prune_deletes_old_terminal_jobs_once(keeping: Pipeline) -> None:
    pipeline = keeping
    old, recent, running = await _three_jobs(pipeline)
    run = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "streams.cli.main", "prune", "--older-than", "30d", "--json"],
        env=pipeline.env,
        capture_output=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr.decode()
    assert orjson.loads(run.stdout)["published"] >= 1
    await _assert_only_old_deleted(pipeline, old, recent, running)


def test_prune_refuses_an_age_it_cannot_read() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "streams.cli.main", "prune", "--older-than", "30 days"],
        env=base_env(),
        capture_output=True,
        timeout=60,
    )
    assert run.returncode == 2 and b"30d, 12h, 90m or 3600s" in run.stderr
