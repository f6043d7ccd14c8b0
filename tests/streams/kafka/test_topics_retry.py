"""A worker started while a broker is down asks again instead of dying on the dead broker's node id."""

from __future__ import annotations

import pytest
from aiokafka.errors import NodeNotReadyError, TopicAuthorizationFailedError

from streams.kafka.topics import _retried


async def test_a_retriable_admin_error_is_asked_again() -> None:
    failures = [NodeNotReadyError("Attempt to send a request to node which is not ready (node id 3).")] * 2

    async def list_topics() -> list[str]:
        if failures:
            raise failures.pop()
        return ["jobs.commands"]

    assert await _retried(list_topics) == ["jobs.commands"]
    assert failures == []


async def test_an_error_asking_again_cannot_fix_is_raised_at_once() -> None:
    calls = 0

    async def list_topics() -> list[str]:
        nonlocal calls
        calls += 1
        raise TopicAuthorizationFailedError("not allowed")

    with pytest.raises(TopicAuthorizationFailedError):
        await _retried(list_topics)
    assert calls == 1
