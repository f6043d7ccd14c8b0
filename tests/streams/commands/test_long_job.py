"""A job with tens of thousands of commands: its table value stays the same size, duplicates stay exact."""

from __future__ import annotations

import orjson
import pytest

from streams.devtools.bench.history import history_commands
from streams.devtools.bench.measure import send_commands
from tests.support.pipeline import Pipeline, command, unique

pytestmark = pytest.mark.e2e
COMMANDS = 20_000


async def test_state_does_not_grow_with_a_jobs_history(pipeline: Pipeline) -> None:
    job = unique("long")
    await pipeline.send_raw(job.encode(), command(job, "create", command_id=f"{job}-create"))
    await send_commands(pipeline.settings.bootstrap_servers, pipeline.settings.topics.commands,
                        history_commands(job, COMMANDS, 1))  # fmt: skip

    async def finished() -> bool:
        row = await pipeline.job_row(job)
        return row is not None and row["seq"] == COMMANDS + 1

    await pipeline.wait_for(finished, timeout_s=240, what=f"{job} reaching seq {COMMANDS + 1}")

    changelog = f"{pipeline.settings.app_id}-job-state-changelog"
    writes = await pipeline.read_topic(
        changelog, lambda m: m.key == job.encode(), 1, timeout_s=30, settle_s=1
    )
    sizes = [len(m.value) for m in writes]
    assert len(sizes) > 10, "the table was written once per batch over the job's history"
    assert max(sizes) - min(sizes) < 64, (
        f"the table value grew with the job's history: {sizes[:3]}…{sizes[-3:]}"
    )
    last = orjson.loads(writes[-1].value)
    assert last["seq"] == COMMANDS + 1 and "applied" not in last

    # Exact duplicate detection for any history: an early command, redelivered, is re-emitted, not applied.
    early_key, early_value = history_commands(job, 1, 5)[0]
    await pipeline.send_raw(early_key, early_value)
    command_id = orjson.loads(early_value)["command_id"]
    emitted = await pipeline.read_topic(
        pipeline.settings.topics.events,
        lambda m: m.key == job.encode() and orjson.loads(m.value)["command_id"] == command_id,
        2,
        timeout_s=60,
    )
    assert [orjson.loads(m.value)["event_id"] for m in emitted] == [f"{job}:6", f"{job}:6"]
    row = await pipeline.job_row(job)
    assert row is not None and row["seq"] == COMMANDS + 1
    stored = await pipeline.fetch("SELECT count(*) AS n FROM job_events WHERE job_id = $1", job)
    assert stored[0]["n"] == COMMANDS + 1
