"""An official SDK's async client aimed at a provider fake, validating every answer strictly."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from tests.support.fake_server import FakeProviderServer

Client = TypeVar("Client")


@asynccontextmanager
async def strict_client(make: Callable[..., Client], fake: FakeProviderServer) -> AsyncIterator[Client]:
    """No retries (a fault must reach the test) and `_strict_response_validation`: a field the fake
    leaves out or shapes unlike the real API fails the SDK's parse."""
    client: Any = make(
        api_key=fake.api_key, base_url=fake.base_url, max_retries=0, _strict_response_validation=True
    )
    async with client:
        yield client
