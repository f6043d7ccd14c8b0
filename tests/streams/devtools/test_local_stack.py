"""The local stack through its CLI, on its own ports and state folder."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.devtools.stack.ports import free_ports

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[3]


def jobstream(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli.main", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("stack")
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    kafka, controller, postgres = free_ports(3)  # another checkout may run this suite at the same time
    env.update(
        JOBSTREAM_HOME=str(home),
        JOBSTREAM_KAFKA_PORT=str(kafka),
        JOBSTREAM_KAFKA_CONTROLLER_PORT=str(controller),
        JOBSTREAM_POSTGRES_PORT=str(postgres),
    )
    first = jobstream(env, "stack", "up")
    assert first.returncode == 0, first.stderr
    yield env
    jobstream(env, "stack", "down")


def _exports(text: str) -> dict[str, str]:
    pairs = [
        line.removeprefix("export ").split("=", 1) for line in text.splitlines() if line.startswith("export ")
    ]
    return {name: value.strip("'") for name, value in pairs}


def test_up_twice_is_safe_and_reports_the_running_stack(own_stack: dict[str, str]) -> None:
    before = jobstream(own_stack, "stack", "status").stdout
    again = jobstream(own_stack, "stack", "up")
    assert again.returncode == 0, again.stderr
    after = jobstream(own_stack, "stack", "status").stdout
    assert _pids(before) == _pids(after) and len(_pids(after)) == 2, "a second `up` started new processes"
    assert "kafka     up" in after and "postgres  up" in after


def _pids(text: str) -> list[str]:
    return [word for word in text.split() if word.startswith("pid=")]


def test_env_points_at_the_stack(own_stack: dict[str, str]) -> None:
    exports = _exports(jobstream(own_stack, "stack", "env").stdout)
    assert exports["KAFKA_BOOTSTRAP_SERVERS"] == f"127.0.0.1:{own_stack['JOBSTREAM_KAFKA_PORT']}"
    postgres = own_stack["JOBSTREAM_POSTGRES_PORT"]
    assert exports["DATABASE_URL"] == f"postgresql://postgres@127.0.0.1:{postgres}/jobstream"
    assert exports["JOBSTREAM_API_URL"].startswith("http://127.0.0.1:")


async def test_a_plain_kafka_client_round_trips_a_message(own_stack: dict[str, str]) -> None:
    servers = _exports(jobstream(own_stack, "stack", "env").stdout)["KAFKA_BOOTSTRAP_SERVERS"]
    topic = f"smoke-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=servers, auto_offset_reset="earliest")
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()
    assert (message.key, message.value) == (b"k", b"hello")


async def test_postgres_answers_a_query(own_stack: dict[str, str]) -> None:
    url = _exports(jobstream(own_stack, "stack", "env").stdout)["DATABASE_URL"]
    connection = await asyncpg.connect(url)
    try:
        assert await connection.fetchval("SELECT 1 + 1") == 2
    finally:
        await connection.close()


def test_migrate_creates_the_contract_tables(own_stack: dict[str, str]) -> None:
    result = jobstream(own_stack, "migrate")
    assert result.returncode == 0, result.stderr

    async def tables() -> set[str]:
        url = _exports(jobstream(own_stack, "stack", "env").stdout)["DATABASE_URL"]
        connection = await asyncpg.connect(url)
        try:
            rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        finally:
            await connection.close()
        return {row["tablename"] for row in rows}

    assert {"jobs", "job_events", "job_messages", "batch_items"} <= asyncio.run(tables())


def test_zz_down_leaves_no_process(own_stack: dict[str, str]) -> None:
    home = own_stack["JOBSTREAM_HOME"]
    status = jobstream(own_stack, "stack", "status").stdout
    pids = [int(word.removeprefix("pid=")) for word in status.split() if word.startswith("pid=")]
    assert len(pids) == 2
    result = jobstream(own_stack, "stack", "down")
    assert result.returncode == 0, result.stderr
    assert not [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    leftovers = [p.pid for p in psutil.process_iter(["cmdline"]) if home in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []
    assert "down" in jobstream(own_stack, "stack", "status").stdout
