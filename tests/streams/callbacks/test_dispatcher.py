"""The dispatcher loop on the real Postgres, with a scripted sender and producer for HTTP and Kafka."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.callback_queue import DeliveryStore, NewDelivery
from streams.callbacks.dispatcher import CallbackDispatcher
from streams.callbacks.outcome import AttemptOutcome
from streams.callbacks.sender import CallbackRequest
from streams.settings import CallbackSettings, Settings
from tests.support.callback_dispatch import FlakyProducer, StubRuntime, until
from tests.support.pipeline import unique

pytestmark = pytest.mark.e2e


@dataclass
class ScriptedSender:
    """200 for every URL unless gated: a gated URL's attempt waits until its gate opens."""

    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    async def send(self, request: CallbackRequest) -> AttemptOutcome:
        self.calls.append(request.url)
        gate = self.gates.get(request.url)
        if gate is not None:
            await gate.wait()
        return AttemptOutcome(status_code=200)


@dataclass
class Harness:
    dispatcher: CallbackDispatcher
    store: DeliveryStore
    sender: ScriptedSender
    producer: FlakyProducer


@pytest.fixture
async def harness(engine: AsyncEngine) -> AsyncIterator[Harness]:
    deployment = unique("app")
    settings = Settings(app_id=deployment, deployment=deployment)
    sender, producer = ScriptedSender(), FlakyProducer()
    dispatcher = CallbackDispatcher(
        StubRuntime(engine, producer),  # type: ignore[arg-type]
        settings,
        CallbackSettings(timeout_s=5, max_attempts=3, backoff_base_s=0.01, backoff_cap_s=0.05),
        sender=sender,
        poll_interval_s=0.05,
    )
    yield Harness(dispatcher, DeliveryStore(engine, settings.deployment), sender, producer)
    for gate in sender.gates.values():
        gate.set()
    await dispatcher.stop()
    async with engine.begin() as connection:
        await connection.exec_driver_sql(
            "DELETE FROM callback_deliveries WHERE app_id = $1", (settings.deployment,)
        )


def delivery(url: str) -> NewDelivery:
    job = unique("job")
    return NewDelivery(f"{job}:2", job, None, url, {"event_id": f"{job}:2", "job_id": job})


async def test_a_stuck_attempt_holds_one_slot_while_others_flow(harness: Harness) -> None:
    harness.sender.gates["http://slow/"] = gate = asyncio.Event()
    slow = delivery("http://slow/")
    fast = [delivery(f"http://fast/{n}") for n in range(5)]
    await harness.store.add([slow])
    await harness.dispatcher.start()
    await until(lambda: "http://slow/" in harness.sender.calls)
    await harness.store.add(fast)
    await until(lambda: len(harness.producer.records) == 5)
    assert slow.job_id not in harness.producer.recorded()
    gate.set()
    await until(lambda: slow.job_id in harness.producer.recorded())
    records = harness.producer.recorded()
    assert records[slow.job_id]["command_id"] == f"callback:{slow.event_id}"
    assert (records[slow.job_id]["status_code"], records[slow.job_id]["attempts"]) == (200, 1)


async def test_a_publish_failure_is_retried_without_sending_again(harness: Harness) -> None:
    harness.producer.failures = 2
    item = delivery("http://ok/")
    await harness.store.add([item])
    await harness.dispatcher.start()
    await until(lambda: item.job_id in harness.producer.recorded())
    await until(lambda: len(harness.dispatcher._in_flight) == 0)
    assert harness.sender.calls == ["http://ok/"]
    assert await harness.store.claim(10, lease_s=30) == [], "the row is closed"


async def test_stopping_hands_in_flight_rows_back(harness: Harness) -> None:
    harness.sender.gates["http://stuck/"] = asyncio.Event()
    item = delivery("http://stuck/")
    await harness.store.add([item])
    await harness.dispatcher.start()
    await until(lambda: harness.sender.calls == ["http://stuck/"])
    await harness.dispatcher.stop()
    [again] = await harness.store.claim(10, lease_s=30)  # due now, not after the 15 s lease
    assert (again.event_id, again.attempts) == (item.event_id, 0)
    assert harness.producer.records == []
