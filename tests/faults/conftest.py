"""The fault suite's own Kafka and Postgres: scenarios kill them, so never the shared stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.devtools.stack.stack import LocalStack
from streams.settings import Settings
from tests.support.private_stack import private_stack


@pytest.fixture(scope="module")
def fault_stack(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings
) -> Iterator[tuple[LocalStack, dict[str, str]]]:
    """One private stack for the module; each scenario runs on its own namespace (topics, group, table)."""
    with private_stack(_home(tmp_path_factory, settings, "faults")) as (stack, env):
        yield stack, env


@pytest.fixture(scope="module")
def cluster_fault_stack(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings
) -> Iterator[tuple[LocalStack, dict[str, str]]]:
    """The same with three Kafka nodes (RF 3, min.insync.replicas=2), for the cluster scenarios."""
    with private_stack(_home(tmp_path_factory, settings, "cluster-faults"), brokers=3) as (stack, env):
        yield stack, env


def _home(tmp_path_factory: pytest.TempPathFactory, settings: Settings, name: str) -> Path:
    home = tmp_path_factory.mktemp(name)
    shared_jars = settings.home / "kafka-libs"
    if any(shared_jars.glob("kafka_2.13-*.jar")):
        (home / "kafka-libs").symlink_to(shared_jars)  # spares a Maven resolution per run
    return home
