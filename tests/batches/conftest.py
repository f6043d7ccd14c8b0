"""Fixtures: one fake Anthropic server per session, reset per test, and a provider aimed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from streams.batches.providers.anthropic import AnthropicBatchProvider
from streams.batches.settings import PollerSettings

from .fake_anthropic import FakeAnthropic

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


@pytest.fixture
def poller_settings(fake_anthropic: FakeAnthropic) -> PollerSettings:
    """Settings aimed at the fake server, with timeouts and backoff shrunk for tests."""
    return PollerSettings(
        anthropic_api_key=fake_anthropic.api_key,
        anthropic_base_url=fake_anthropic.base_url,
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
