"""`jobstream tail` as a user runs it: a child process printing events as they happen."""

from __future__ import annotations

import asyncio
import sys

import orjson
import pytest

from tests.streams.cli.runner import ROOT
from tests.support.pipeline import Pipeline, unique

pytestmark = pytest.mark.e2e


async def start_tail(pipeline: Pipeline, *args: str) -> asyncio.subprocess.Process:
    """Start `jobstream tail` and return once it says it is following (its offsets are fixed)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streams.cli.main",
        "tail",
        *args,
        env=pipeline.env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    ready = b"following " + pipeline.settings.topics.events.encode()
    async with asyncio.timeout(60):
        while not (line := await proc.stderr.readline()).startswith(ready):
            assert line, "tail exited before it was ready"
    return proc


async def finish(proc: asyncio.subprocess.Process) -> list[str]:
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode().splitlines()


async def test_tail_prints_a_live_event_as_json(pipeline: Pipeline) -> None:
    job_id = unique("tail")
    proc = await start_tail(pipeline, "--job", job_id, "--json", "--count", "1")
    await pipeline.client.create(job_id, metadata={"via": "tail"})
    (line,) = await finish(proc)
    event = orjson.loads(line)
    assert (event["event_id"], event["type"], event["job_id"]) == (f"{job_id}:1", "job.created", job_id)
    assert event["job"]["metadata"] == {"via": "tail"}


async def test_tail_filters_by_type_and_status_in_readable_lines(pipeline: Pipeline) -> None:
    job_id = unique("tail")
    proc = await start_tail(
        pipeline, "--job", job_id, "--type", "job.status_changed", "--status", "completed", "--count", "1"
    )
    await pipeline.client.create(job_id, status="running")
    await pipeline.client.update_metadata(job_id, {"ignored": True})
    await pipeline.client.transition(job_id, "completed", stop_reason="end_turn")
    (line,) = await finish(proc)
    assert "job.status_changed" in line and job_id in line and "seq=3" in line
    assert "running -> completed [end_turn]" in line
