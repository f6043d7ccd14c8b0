"""The fault suite's own Kafka and Postgres: scenarios kill them, so never the shared stack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streams.devtools.stack.stack import LocalStack
from streams.settings import Settings
from tests.support.private_stack import private_stack


@pytest.fixture(scope="module")
def fault_stack(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings
) -> Iterator[tuple[LocalStack, dict[str, str]]]:
    """One private stack for the module; each scenario runs on its own namespace (topics, group, table)."""
    home = tmp_path_factory.mktemp("faults")
    shared_jars = settings.home / "kafka-libs"
    if any(shared_jars.glob("kafka_2.13-*.jar")):
        (home / "kafka-libs").symlink_to(shared_jars)  # spares a Maven resolution per run
    with private_stack(home) as (stack, env):
        yield stack, env
