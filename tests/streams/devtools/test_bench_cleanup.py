"""A bench run leaves nothing behind on the local stack: not its topics, not its rows, not its state."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from streams.devtools.bench.config import BenchConfig
from streams.devtools.bench.runner import run
from streams.devtools.bench.scratch import new_run_id
from streams.devtools.stack.stack import LocalStack
from streams.settings import Settings

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[3]
SMALL = BenchConfig(
    commands=200, jobs=20, baseline_commands=40, rate=100.0, point_seconds=1.0, point_samples=100,
    long_job_commands=300,
)  # fmt: skip
SMALL_ARGS = ["--commands", "200", "--jobs", "20", "--baseline-commands", "40", "--rate", "100",
              "--point-seconds", "1", "--point-samples", "100", "--long-job-commands", "300"]  # fmt: skip


async def leftovers(settings: Settings, run_id: str) -> dict[str, list[str]]:
    """Whatever of the run is still there: topics, job rows (any table keyed by job id), folders."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if run_id in t]
    finally:
        await admin.close()
    connection = await asyncpg.connect(settings.postgres_url)
    try:
        pattern = f"{run_id}%"
        rows = [
            f"{table}: {count}"
            for table, column in (("jobs", "id"), ("job_events", "job_id"), ("job_messages", "job_id"))
            if (
                count := await connection.fetchval(
                    f"SELECT count(*) FROM {table} WHERE {column} LIKE $1", pattern
                )
            )
        ]
    finally:
        await connection.close()
    folders = [
        str(path)
        for path in [
            *settings.home.glob(f"worker-data/*{run_id}*"),
            *settings.home.glob(f"bench-data/{run_id}*"),
        ]
    ] + [str(path) for path in ROOT.glob(f"{run_id}*")]
    return {"topics": topics, "rows": rows, "folders": folders}


async def test_a_small_run_removes_its_topics_and_rows(stack: LocalStack, settings: Settings) -> None:
    run_id = new_run_id("b")
    result = await run(settings, SMALL, run_id=run_id)
    assert result["correct"], result["problems"]
    assert len(result["latency_curve"]) >= 4 and result["long_job_cpu_ms_last"] is not None
    assert result["worker_cpu_ms_per_command"] and result["system_cpu_ms_per_command"]
    assert await leftovers(settings, run_id) == {"topics": [], "rows": [], "folders": []}


def test_an_interrupted_run_removes_what_it_had_created(stack: LocalStack, settings: Settings) -> None:
    """Ctrl-C (SIGINT) once the baseline has written its rows, while the worker starts."""
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    bench = subprocess.Popen(
        [sys.executable, "-m", "streams.cli.main", "bench", *SMALL_ARGS],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert bench.stderr is not None
    output, run_id = [], None
    deadline = time.monotonic() + 300
    try:
        for line in bench.stderr:
            output.append(line)
            if match := re.match(r"bench (\w+): ", line):
                run_id = run_id or match.group(1)
            if line.strip().startswith("baseline:"):
                break
            assert time.monotonic() < deadline, "".join(output)
        assert run_id is not None, "".join(output)
        bench.send_signal(signal.SIGINT)
        _, rest = bench.communicate(timeout=180)
    finally:
        if bench.poll() is None:
            bench.kill()
    output.append(rest)
    assert bench.returncode != 0, "".join(output)
    assert f"bench {run_id}: removing its topics and rows" in rest, "".join(output)
    assert "could not remove" not in rest, "".join(output)
    assert asyncio.run(leftovers(settings, run_id)) == {"topics": [], "rows": [], "folders": []}
