"""A worker started while a broker is down asks again instead of dying on the dead broker's node id."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiokafka.admin import NewTopic
from aiokafka.errors import InvalidReplicationFactorError, NodeNotReadyError, TopicAuthorizationFailedError

from streams.kafka.topics import _create, _retried


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


class _Admin:
    """What `create_topics` answers: the broker's error code per topic, as aiokafka returns them."""

    def __init__(self, *answers: list[tuple[str, int, str]]) -> None:
        self.answers = list(answers)

    async def create_topics(self, topics: list[NewTopic]) -> SimpleNamespace:
        return SimpleNamespace(topic_errors=self.answers.pop(0))


async def test_a_topic_the_broker_could_not_create_yet_is_created_again() -> None:
    admin = _Admin([("jobs.events", 41, "not the controller")], [("jobs.events", 0, "")])
    await _retried(lambda: _create(admin, [NewTopic("jobs.events", 4, 1)]))  # type: ignore[arg-type]
    assert admin.answers == []


async def test_a_topic_another_worker_created_is_no_error_and_a_refused_one_is() -> None:
    await _create(_Admin([("jobs.events", 36, "exists")]), [NewTopic("jobs.events", 4, 1)])  # type: ignore[arg-type]
    refused = _Admin([("jobs.events", 38, "Replication factor: 3 larger than available brokers: 1.")])
    with pytest.raises(InvalidReplicationFactorError, match=r"jobs\.events: Replication factor"):
        await _retried(lambda: _create(refused, [NewTopic("jobs.events", 4, 3)]))  # type: ignore[arg-type]
