"""The cancel ledger on the real Postgres: one claim at a time, leases that run out, answers kept once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.queries.batch_cancels import (
    CancelRequest,
    PostgresCancelLedger,
    cancel_finished,
    cancelled_batches_to_follow,
    claim_cancel,
    due_cancels,
    finish_cancel,
    record_cancel,
    release_cancel,
    request_cancels,
)
from storage.queries.batches import RunningBatch
from storage.tables import batch_cancels
from tests.support.pipeline import unique
from tests.support.rows import NOW, AddJob

pytestmark = pytest.mark.e2e


@pytest.fixture
async def owed(engine: AsyncEngine, add_job: AddJob) -> AsyncIterator[CancelRequest]:
    """A cancelled batch job with a cancel owed for it; its row removed afterwards."""
    batch_id = await add_job(
        "cbatch",
        status="cancelled",
        job_type="batch",
        provider="anthropic",
        provider_batch_id=unique("msgbatch"),
    )
    async with engine.connect() as connection:
        provider_batch_id = (
            await connection.execute(
                select(batch_cancels.c.batch_id).where(batch_cancels.c.batch_id == batch_id)
            )
        ).scalar()
    assert provider_batch_id is None
    request = CancelRequest(batch_id, "anthropic", unique("msgbatch"))
    assert await request_cancels(engine, [request, request], NOW) == 1
    yield request
    async with engine.begin() as connection:
        await connection.execute(delete(batch_cancels).where(batch_cancels.c.batch_id == batch_id))


async def row(engine: AsyncEngine, batch_id: str) -> dict[str, object]:
    async with engine.connect() as connection:
        found = (
            await connection.execute(select(batch_cancels).where(batch_cancels.c.batch_id == batch_id))
        ).one()
    return dict(found._mapping)


async def test_a_request_is_recorded_once_and_due_until_answered(
    engine: AsyncEngine, owed: CancelRequest
) -> None:
    assert await request_cancels(engine, [owed], NOW) == 0, "a redelivered event adds nothing"
    assert owed in await due_cancels(engine)
    assert await record_cancel(engine, owed.batch_job_id, "acknowledged")
    assert not await record_cancel(engine, owed.batch_job_id, "refused", "late"), "an answer is kept once"
    stored = await row(engine, owed.batch_job_id)
    assert (
        stored["outcome"] == "acknowledged" and stored["error"] is None and stored["outcome_at"] is not None
    )
    assert owed not in await due_cancels(engine)
    assert not await claim_cancel(engine, owed.batch_job_id, 60), "an answered cancel cannot be claimed"


async def test_one_claim_at_a_time_until_its_lease_runs_out(engine: AsyncEngine, owed: CancelRequest) -> None:
    claims = await asyncio.gather(*(claim_cancel(engine, owed.batch_job_id, 0.5) for _ in range(5)))
    assert sorted(claims) == [False] * 4 + [True], "concurrent pollers: exactly one wins"
    assert owed not in await due_cancels(engine), "a held claim is not due"
    await asyncio.sleep(0.6)
    assert owed in await due_cancels(engine)
    assert await claim_cancel(engine, owed.batch_job_id, 60), "a dead poller's claim is taken over"
    await release_cancel(engine, owed.batch_job_id, "anthropic cancel answered 503" + "!" * 10_000)
    stored = await row(engine, owed.batch_job_id)
    assert stored["attempts"] == 2 and stored["claimed_until"] is None and stored["outcome"] is None
    assert isinstance(stored["error"], str) and len(stored["error"]) == 4096
    assert await claim_cancel(engine, owed.batch_job_id, 60), "a released claim is free at once"


async def test_an_answered_cancel_is_followed_until_finished(
    engine: AsyncEngine, owed: CancelRequest
) -> None:
    ledger = PostgresCancelLedger(engine)
    expected = RunningBatch(owed.batch_job_id, owed.provider, owed.provider_batch_id)
    assert expected not in await cancelled_batches_to_follow(engine), "nothing to follow before the answer"
    await ledger.record(owed.batch_job_id, "acknowledged", None, finished=False)
    assert expected in await ledger.following()
    assert not await cancel_finished(engine, owed.batch_job_id)
    assert await finish_cancel(engine, owed)
    assert not await finish_cancel(engine, owed), "concluded once"
    assert await cancel_finished(engine, owed.batch_job_id)
    assert expected not in await ledger.following()
    assert (await row(engine, owed.batch_job_id))["outcome"] == "acknowledged"


async def test_a_batch_the_provider_cancelled_is_concluded_without_a_cancel(engine: AsyncEngine) -> None:
    own = CancelRequest(unique("pbatch"), "anthropic", unique("msgbatch"))
    try:
        assert await finish_cancel(engine, own) and not await finish_cancel(engine, own)
        assert await cancel_finished(engine, own.batch_job_id)
        assert own not in await due_cancels(engine), "a finished row is never due"
        assert await request_cancels(engine, [own], NOW) == 0
        assert not await claim_cancel(engine, own.batch_job_id, 60)
    finally:
        async with engine.begin() as connection:
            await connection.execute(
                delete(batch_cancels).where(batch_cancels.c.batch_id == own.batch_job_id)
            )


async def test_a_refusal_with_nothing_to_follow_is_finished_at_once(
    engine: AsyncEngine, owed: CancelRequest
) -> None:
    await PostgresCancelLedger(engine).record(
        owed.batch_job_id, "refused", "404 not_found_error", finished=True
    )
    stored = await row(engine, owed.batch_job_id)
    assert stored["outcome"] == "refused" and stored["finished_at"] is not None
    assert RunningBatch(*owed) not in await cancelled_batches_to_follow(engine)
