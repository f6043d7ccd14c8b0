"""`jobstream bench` refuses a cluster or database that is not the local stack, before connecting to it."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from streams.cli.main import app
from streams.devtools.bench import guard, listing, runner
from streams.devtools.bench.config import BenchConfig
from streams.settings import Settings

REMOTE = {
    "KAFKA_BOOTSTRAP_SERVERS": "kafka-1.prod.example:9092,kafka-2.prod.example:9092",
    "DATABASE_URL": "postgresql://svc:s3cret-pw@db.prod.example:6432/jobs",
}


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"JOBSTREAM_HOME": str(tmp_path), **env})


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """No connection may be opened and no run started; records the runs that were started instead."""
    for name in (*REMOTE, "JOBSTREAM_KAFKA_PORT", "JOBSTREAM_POSTGRES_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JOBSTREAM_HOME", str(tmp_path))

    def no_connection(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"the bench connected before refusing: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", no_connection)
    monkeypatch.setattr(socket.socket, "connect_ex", no_connection)
    runs: list[str] = []

    async def fake_run(settings: Settings, config: BenchConfig) -> dict[str, Any]:
        runs.append(settings.bootstrap_servers)
        return {"correct": True}

    monkeypatch.setattr(runner, "run", fake_run)
    return runs


def bench(*args: str, **env: str) -> Any:
    return CliRunner().invoke(app, ["bench", "--json", *args], env=env)


@pytest.mark.parametrize("variable", sorted(REMOTE))
def test_refuses_a_cluster_or_database_that_is_not_the_local_stack(offline: list[str], variable: str) -> None:
    result = bench(**{variable: REMOTE[variable]})
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    line = lines[0]
    assert line.startswith("bench: refusing to run") and guard.OVERRIDE_FLAG in line
    assert variable in line and "commands" in line
    assert "s3cret-pw" not in line and "svc" not in line  # the database's credentials are never shown
    assert offline == []


def test_says_both_targets_in_one_line(offline: list[str]) -> None:
    line = bench(**REMOTE).output.strip()
    assert "\n" not in line
    assert "Kafka at kafka-1.prod.example:9092,kafka-2.prod.example:9092" in line
    assert "Postgres at db.prod.example:6432/jobs" in line


def test_the_flag_lets_it_run_there(offline: list[str]) -> None:
    result = bench(guard.OVERRIDE_FLAG, **REMOTE)
    assert result.exit_code == 0, result.output
    assert offline == [REMOTE["KAFKA_BOOTSTRAP_SERVERS"]]


def test_the_local_stack_needs_no_flag(offline: list[str]) -> None:
    """Neither variable set, or both set to what `jobstream stack env` exports: the local stack."""
    assert bench().exit_code == 0
    exported = {
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/jobstream",
    }
    result = bench(**exported)
    assert result.exit_code == 0, result.output
    assert len(offline) == 2


@pytest.mark.parametrize(
    ("bootstrap", "local"),
    [
        ("127.0.0.1:9092", True),
        ("localhost:9092", True),
        ("[::1]:9092", True),
        ("PLAINTEXT://127.0.0.1:9092", True),
        ("127.0.0.1:9092,kafka.example:9092", False),  # one remote broker is a remote cluster
        ("127.0.0.1:29092", False),  # a loopback port that is not the stack's (a tunnel, say)
        ("10.0.0.5:9092", False),
        ("", False),
    ],
)
def test_kafka_addresses(bootstrap: str, local: bool) -> None:
    assert guard.is_local_kafka(bootstrap, 9092) is local


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("postgresql://postgres@127.0.0.1:5432/jobstream", True),
        ("postgresql+asyncpg://postgres@localhost/jobstream", True),  # default port 5432
        ("postgresql://postgres@127.0.0.1:6543/jobstream", False),
        ("postgresql://postgres@db.example:5432/jobstream", False),
        ("postgresql:///jobstream?host=/var/run/postgresql", False),  # a socket: not the stack's TCP port
        ("postgresql://postgres@127.0.0.1:notaport/jobstream", False),
        ("mysql://127.0.0.1:5432/jobstream", False),
    ],
)
def test_postgres_urls(url: str, local: bool) -> None:
    assert guard.is_local_postgres(url, 5432) is local


def test_the_local_stack_on_its_own_ports(tmp_path: Path) -> None:
    """A stack on other ports (JOBSTREAM_*_PORT) is still the local stack at exactly those ports."""
    ports = {"JOBSTREAM_KAFKA_PORT": "19092", "JOBSTREAM_POSTGRES_PORT": "15432"}
    own = settings(
        tmp_path,
        **ports,
        KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:19092",
        DATABASE_URL="postgresql://postgres@127.0.0.1:15432/jobstream",
    )
    assert guard.foreign_targets(own) == []
    other = settings(tmp_path, **ports, KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9092")
    assert guard.foreign_targets(other) == ["Kafka at 127.0.0.1:9092 (KAFKA_BOOTSTRAP_SERVERS)"]


def test_the_list_latency_phase_is_refused_elsewhere_and_runs_alone_locally(
    offline: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--list-jobs` writes a scratch database: refused on a foreign Postgres; locally it is the whole run."""
    refused = bench("--list-jobs", "1000", DATABASE_URL=REMOTE["DATABASE_URL"])
    assert refused.exit_code == 2 and "1,000 jobs into a scratch database" in refused.output
    loads: list[tuple[str, int]] = []

    async def fake_listing(server_url: str, jobs: int) -> dict[str, Any]:
        loads.append((server_url, jobs))
        return {"jobs": jobs, "load_s": 0.1, "cases": {"no filter": {"p50_ms": 1.0, "p99_ms": 2.0}}}

    monkeypatch.setattr(listing, "run", fake_listing)
    result = CliRunner().invoke(app, ["bench", "--list-jobs", "1000"])
    assert result.exit_code == 0, result.output
    assert [jobs for _, jobs in loads] == [1000] and offline == []  # the command benchmark did not run
    assert "no filter" in result.output and "1.0" in result.output and "2.0" in result.output
