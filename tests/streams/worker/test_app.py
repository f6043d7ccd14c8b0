"""Which Faust tables a worker declares, by role (building the app needs no broker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import Settings
from streams.worker.app import create_app


def _tables(tmp_path: Path, roles: str) -> set[str]:
    settings = Settings.from_env({"JOBSTREAM_HOME": str(tmp_path), "JOBSTREAM_WORKER_ROLES": roles})
    return set(create_app(settings).tables)


def test_a_downstream_only_worker_declares_no_job_state_table(tmp_path: Path) -> None:
    assert "job-state" not in _tables(tmp_path, "downstream")


@pytest.mark.parametrize("roles", ["commands", "commands,downstream"])
def test_the_command_path_declares_the_job_state_table(tmp_path: Path, roles: str) -> None:
    assert "job-state" in _tables(tmp_path, roles)
