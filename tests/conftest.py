"""Session fixtures: the real local stack, and a namespaced pipeline with a running worker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import create_engine
from streams.devtools.stack.stack import LocalStack
from streams.settings import Settings
from tests.support.pipeline import Pipeline, base_env

# Fixtures the batch tests of several folders share (the fake provider, job rows).
pytest_plugins = ["tests.support.batch_fixtures"]

# Fixtures that bring up a real Kafka and Postgres: the shared stack, or a private one a test may break.
BROKER_FIXTURES = frozenset({"stack", "fault_stack", "cluster_fault_stack", "own_stack", "outage_pipeline"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs a broker `stack`, so `make test-fast` (-m "not stack") runs the rest."""
    for item in items:
        if BROKER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.stack)


@pytest.fixture(scope="session")
def settings() -> Settings:
    """This checkout's settings, with the local stack's ports as its first `up` chooses and records them
    (`<home>/ports.json`), so the session and the workers it starts agree before the stack ever ran."""
    return LocalStack(Settings.from_env()).choose_ports()


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Iterator[LocalStack]:
    """The real Kafka and Postgres (started if needed; left running for the next session)."""
    local = LocalStack(settings)
    local.up()
    from storage.migrate import upgrade

    upgrade(settings.postgres_url)
    yield local


@pytest.fixture(scope="session")
def logs_dir(settings: Settings) -> Path:
    path = settings.home / "test-logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
async def pipeline(stack: LocalStack, logs_dir: Path) -> AsyncIterator[Pipeline]:
    """One worker on its own topics, shared by the end-to-end tests (each uses its own job ids)."""
    pipe = Pipeline(base_env(), logs_dir)
    pipe.start_worker()
    await pipe.wait_ready()
    yield pipe
    await pipe.close()


@pytest.fixture(scope="session")
async def engine(pipeline: Pipeline) -> AsyncIterator[AsyncEngine]:
    """An engine on the shared pipeline's database (migrated by its worker), for direct row access."""
    engine = create_engine(pipeline.settings.postgres_url)
    yield engine
    await engine.dispose()
