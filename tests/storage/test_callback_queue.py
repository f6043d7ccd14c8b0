"""The delivery queue against the real Postgres: de-duplication, claims, leases as fencing tokens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.callback_queue import DeliveryStore, NewDelivery
from tests.support.pipeline import unique

pytestmark = pytest.mark.e2e


@pytest.fixture
async def store(engine: AsyncEngine) -> AsyncIterator[DeliveryStore]:
    """A deployment (app id) of its own, so no running worker claims these rows; removed afterwards."""
    store = DeliveryStore(engine, unique("app"))
    yield store
    await forget(engine, store.app_id)


async def forget(engine: AsyncEngine, app_id: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM callback_deliveries WHERE app_id = :a"), {"a": app_id})


def new(job: str | None = None) -> NewDelivery:
    job = job or unique("job")
    payload = {"event_id": f"{job}:2", "job_id": job, "status": "completed", "metadata": {"b": 1, "a": 2}}
    return NewDelivery(f"{job}:2", job, "org", "http://127.0.0.1:9/hook", payload)


async def test_an_event_is_queued_once(store: DeliveryStore) -> None:
    first = new()
    assert await store.add([first, first, new()]) == 2
    assert await store.add([first]) == 0
    claimed = {c.event_id: c for c in await store.claim(10, lease_s=30)}
    assert len(claimed) == 2 and first.event_id in claimed
    assert list(claimed[first.event_id].payload) == [
        "event_id", "job_id", "status", "stop_reason", "completed_at", "metadata"
    ]  # fmt: skip


async def test_claims_skip_leased_rows_excluded_rows_and_other_deployments(
    store: DeliveryStore, engine: AsyncEngine
) -> None:
    other = DeliveryStore(engine, unique("other-app"))
    try:
        await other.add([new()])
        a, b, c = new(), new(), new()
        await store.add([a, b, c])
        first = await store.claim(10, lease_s=30, exclude=[b.event_id])  # b is in flight here already
        assert {x.event_id for x in first} == {a.event_id, c.event_id}
        assert [x.event_id for x in await store.claim(10, lease_s=30)] == [b.event_id]
        assert await store.claim(10, lease_s=30) == [], "leased rows are not due"
        assert len(await other.claim(10, lease_s=30)) == 1
    finally:
        await forget(engine, other.app_id)


async def test_concurrent_claims_are_disjoint(store: DeliveryStore) -> None:
    await store.add([new() for _ in range(20)])
    batches = await asyncio.gather(*(store.claim(5, lease_s=30) for _ in range(6)))
    ids = [c.event_id for batch in batches for c in batch]
    assert len(ids) == 20 and len(set(ids)) == 20


async def test_a_lost_lease_fences_off_the_old_holder(store: DeliveryStore) -> None:
    await store.add([new()])
    [stale] = await store.claim(1, lease_s=0.0)  # its lease is over at once
    [fresh] = await store.claim(1, lease_s=30)
    assert fresh.event_id == stale.event_id and fresh.lease != stale.lease
    assert not await store.reschedule(stale, 1, 0.0, 500, "HTTP 500")
    assert not await store.finish(stale, 1, "delivered", 200, None)
    assert await store.finish(fresh, 1, "delivered", 200, None)
    assert await store.claim(1, lease_s=30) == []


async def test_reschedule_counts_the_attempt_and_waits(store: DeliveryStore) -> None:
    await store.add([new()])
    [claimed] = await store.claim(1, lease_s=30)
    assert await store.reschedule(claimed, 1, 0.3, 503, "HTTP 503")
    assert await store.claim(1, lease_s=30) == []
    await asyncio.sleep(0.4)
    [again] = await store.claim(1, lease_s=30)
    assert again.attempts == 1


async def test_release_makes_leased_rows_due_again(store: DeliveryStore) -> None:
    await store.add([new(), new()])
    claimed = await store.claim(10, lease_s=300)
    await store.release(claimed)
    again = await store.claim(10, lease_s=300)
    assert {c.event_id for c in again} == {c.event_id for c in claimed}
