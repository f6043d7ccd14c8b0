"""Fixtures: the fake provider servers and providers aimed at them; an engine and direct job rows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.tables import batch_items, jobs
from streams.poller.providers.anthropic import AnthropicBatchProvider
from streams.poller.providers.openai import OpenAIBatchProvider
from streams.settings import PollerSettings
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_openai import FakeOpenAI
from tests.support.pipeline import unique
from tests.support.rows import NOW, AddJob

# Short enough that "hangs past the timeout" tests stay fast, long enough for a loaded CI box.
TEST_TIMEOUT_S = 0.5


@pytest.fixture(scope="session")
def fake_anthropic_server() -> Iterator[FakeAnthropic]:
    """The running server; prefer `fake_anthropic`, which also clears state between tests."""
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def fake_anthropic(fake_anthropic_server: FakeAnthropic) -> FakeAnthropic:
    """The shared fake server with no batches, faults or recorded requests."""
    fake_anthropic_server.reset()
    return fake_anthropic_server


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAI]:
    """The running server; prefer `fake_openai`, which also clears state between tests."""
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def fake_openai(fake_openai_server: FakeOpenAI) -> FakeOpenAI:
    """The shared fake server with no batches, files, faults or recorded requests."""
    fake_openai_server.reset()
    return fake_openai_server


@pytest.fixture
def poller_settings(fake_anthropic: FakeAnthropic, fake_openai: FakeOpenAI) -> PollerSettings:
    """Settings aimed at the fake servers, with timeouts and backoff shrunk for tests."""
    return PollerSettings(
        anthropic_api_key=fake_anthropic.api_key,
        anthropic_base_url=fake_anthropic.base_url,
        openai_api_key=fake_openai.api_key,
        openai_base_url=fake_openai.base_url,
        poll_interval_s=0.05,
        poll_concurrency=4,
        request_timeout_s=TEST_TIMEOUT_S,
        retry_attempts=3,
        retry_backoff_s=0.01,
        retry_backoff_max_s=0.05,
    )


@pytest.fixture
async def anthropic_provider(poller_settings: PollerSettings) -> AsyncIterator[AnthropicBatchProvider]:
    """The real HTTP provider, talking to the fake server."""
    async with AnthropicBatchProvider.from_settings(poller_settings) as provider:
        yield provider


@pytest.fixture
async def openai_provider(poller_settings: PollerSettings) -> AsyncIterator[OpenAIBatchProvider]:
    """The real HTTP provider, talking to the fake OpenAI server."""
    async with OpenAIBatchProvider.from_settings(poller_settings) as provider:
        yield provider


@pytest.fixture
async def add_job(engine: AsyncEngine) -> AsyncIterator[AddJob]:
    """Insert a jobs row directly (the command path has its own tests); deleted again afterwards."""
    made: list[str] = []

    async def add(prefix: str, status: str = "created", job_type: str = "run", **columns: object) -> str:
        job_id = unique(prefix)
        row = {
            "id": job_id,
            "job_type": job_type,
            "status": status,
            "seq": 1,
            "created_at": NOW,
            "updated_at": NOW,
        }
        async with engine.begin() as connection:
            await connection.execute(insert(jobs).values(**row, **columns))
        made.append(job_id)
        return job_id

    yield add
    async with engine.begin() as connection:
        await connection.execute(delete(batch_items).where(batch_items.c.batch_id.in_(made)))
        await connection.execute(delete(jobs).where(jobs.c.id.in_(made)))
