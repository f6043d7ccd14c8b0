"""Fixtures of the command-path tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from storage.database import create_engine
from storage.job_store import JobStore
from streams.devtools.stack.stack import LocalStack
from streams.settings import Settings


@pytest.fixture
async def store(stack: LocalStack, settings: Settings) -> AsyncIterator[JobStore]:
    """The command path's writer on the local stack's Postgres (migrated by `stack`)."""
    engine = create_engine(settings.postgres_url, pool_size=1)
    yield JobStore(engine)
    await engine.dispose()
