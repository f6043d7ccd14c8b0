"""The batch end-to-end fixtures, for whichever provider fake a module names as `provider_fake`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.streams.batches.batch_scenario import Batch, Pollers, cancel_unfinished, create_batch
from tests.support.fake_server import FakeProviderServer
from tests.support.pipeline import Pipeline

NewBatch = Callable[..., Awaitable[Batch]]


@pytest.fixture
def provider_fake() -> FakeProviderServer:
    """Set by each end-to-end module (`fake_anthropic`, `fake_openai`)."""
    raise NotImplementedError("define provider_fake in the test module")


@pytest.fixture
async def new_batch(pipeline: Pipeline, provider_fake: FakeProviderServer) -> AsyncIterator[NewBatch]:
    """`await new_batch(size, result_types, **fields)`; whatever is left running is cancelled after."""
    made: list[Batch] = []

    async def make(size: int, result_types: Sequence[str] = ("succeeded",), **fields: Any) -> Batch:
        made.append(await create_batch(pipeline, provider_fake, size, result_types, **fields))  # type: ignore[arg-type]
        return made[-1]

    yield make
    await cancel_unfinished(pipeline, made)


@pytest.fixture
def pollers(pipeline: Pipeline, provider_fake: FakeProviderServer, logs_dir: Path) -> Iterator[Pollers]:
    """`jobstream poller` processes aimed at the module's fake; all stopped after the test."""
    started = Pollers(pipeline, [provider_fake], logs_dir)
    yield started
    started.stop_all()
