"""What `jobstream stack status` reports of each service, without starting any (no broker needed)."""

from __future__ import annotations

import os
from pathlib import Path

from streams.cli.stack import _line
from streams.devtools.stack.process import service_status
from streams.devtools.stack.stack import LocalStack
from streams.settings import Settings


def test_a_live_pid_file_is_a_running_service(tmp_path: Path) -> None:
    pid_file = tmp_path / "service.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    status = service_status("kafka", pid_file, "127.0.0.1:9092")
    assert (status.name, status.running, status.pid, status.external) == ("kafka", True, os.getpid(), False)
    assert status.rss_mb is not None and status.rss_mb > 0
    assert _line(status).startswith(f"kafka     up    127.0.0.1:9092 pid={os.getpid()} rss=")


def test_no_pid_file_is_a_service_that_is_down(tmp_path: Path) -> None:
    status = service_status("postgres", tmp_path / "postmaster.pid", "127.0.0.1:5432")
    assert (status.running, status.pid, status.rss_mb) == (False, None, None)
    assert _line(status) == "postgres  down  127.0.0.1:5432"


def test_external_services_are_reported_up_and_not_ours(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "JOBSTREAM_HOME": str(tmp_path),
            "KAFKA_BOOTSTRAP_SERVERS": "broker:9092",
            "DATABASE_URL": "postgresql://app@db:5432/jobs",
        }
    )
    lines = [_line(report) for report in LocalStack(settings).status()]
    assert lines == [
        "kafka     up    broker:9092 (external)",
        "postgres  up    postgresql://app@db:5432/jobs (external)",
    ]


def test_an_external_database_is_shown_without_its_password(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"JOBSTREAM_HOME": str(tmp_path), "DATABASE_URL": "postgresql://app:s3cret-pw@db:5432/jobs"}
    )
    line = _line(LocalStack(settings).status()[1])
    assert "s3cret-pw" not in line
    assert line == "postgres  up    postgresql://app:***@db:5432/jobs (external)"
