"""A cancelled batch's cancel at its provider (docs/contract.md §8): requested, claimed, answered, finished.

Each step is one conditional statement on the batch's `batch_cancels` row, so pollers on any number of
hosts agree on who sends the cancel and whether it was answered without talking to each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal, NamedTuple

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.vocabulary import Status
from storage.queries.batches import RunningBatch
from storage.tables import batch_cancels, jobs

CancelOutcome = Literal["acknowledged", "already_ended", "refused"]
# The stored provider error is for people; bounded like a job's `error` (docs/contract.md §3).
ERROR_MAX_CHARS = 4096
# One round's share: a backlog of cancels drains over rounds instead of one huge round.
DUE_LIMIT = 1000


class CancelRequest(NamedTuple):
    """A batch to cancel at its provider; kept apart from the job row, so a deleted batch still stops."""

    batch_job_id: str
    provider: str
    provider_batch_id: str


def _open() -> ColumnElement[bool]:
    return batch_cancels.c.outcome.is_(None) & batch_cancels.c.finished_at.is_(None)


def _unclaimed() -> ColumnElement[bool]:
    return or_(batch_cancels.c.claimed_until.is_(None), batch_cancels.c.claimed_until < func.now())


async def request_cancels(engine: AsyncEngine, requests: Sequence[CancelRequest], now: datetime) -> int:
    """Record the cancels asked for; one already recorded is left as it is. Returns the rows added."""
    if not requests:
        return 0
    rows = [{**request._asdict(), "requested_at": now} for request in dict.fromkeys(requests)]
    for row in rows:
        row["batch_id"] = row.pop("batch_job_id")
    statement = insert(batch_cancels).values(rows).on_conflict_do_nothing(index_elements=["batch_id"])
    async with engine.begin() as connection:
        return (await connection.execute(statement)).rowcount


async def due_cancels(engine: AsyncEngine, limit: int = DUE_LIMIT) -> list[CancelRequest]:
    """Cancels no provider has answered and no poller holds: this round's candidates, oldest first."""
    query = (
        select(batch_cancels.c.batch_id, batch_cancels.c.provider, batch_cancels.c.provider_batch_id)
        .where(_open(), _unclaimed())
        .order_by(batch_cancels.c.requested_at, batch_cancels.c.batch_id)
        .limit(limit)
    )
    async with engine.connect() as connection:
        return [CancelRequest(*row) for row in await connection.execute(query)]


async def claim_cancel(engine: AsyncEngine, batch_job_id: str, lease_s: float) -> bool:
    """Take the cancel for `lease_s` seconds (database time); False when another poller has it or it is done.

    A poller that dies holding it only delays the cancel until the lease runs out.
    """
    statement = (
        update(batch_cancels)
        .where(batch_cancels.c.batch_id == batch_job_id, _open(), _unclaimed())
        .values(
            claimed_until=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, lease_s),
            attempts=batch_cancels.c.attempts + 1,
        )
        .returning(batch_cancels.c.batch_id)
    )
    async with engine.begin() as connection:
        return (await connection.execute(statement)).first() is not None


async def record_cancel(
    engine: AsyncEngine,
    batch_job_id: str,
    outcome: CancelOutcome,
    error: str | None = None,
    *,
    finished: bool = False,
) -> bool:
    """The provider's answer, once: no cancel is sent for this batch again. `finished`: nothing to follow."""
    statement = (
        update(batch_cancels)
        .where(batch_cancels.c.batch_id == batch_job_id, batch_cancels.c.outcome.is_(None))
        .values(
            outcome=outcome,
            outcome_at=func.now(),
            error=error[:ERROR_MAX_CHARS] if error is not None else None,
            claimed_until=None,
            finished_at=func.now() if finished else None,
        )
    )
    async with engine.begin() as connection:
        return (await connection.execute(statement)).rowcount == 1


async def release_cancel(engine: AsyncEngine, batch_job_id: str, error: str) -> None:
    """Give the claim back after an outage outlasted this round's retries; the next round tries again."""
    statement = (
        update(batch_cancels)
        .where(batch_cancels.c.batch_id == batch_job_id, batch_cancels.c.outcome.is_(None))
        .values(claimed_until=None, error=error[:ERROR_MAX_CHARS])
    )
    async with engine.begin() as connection:
        await connection.execute(statement)


async def cancel_finished(engine: AsyncEngine, batch_job_id: str) -> bool:
    """Whether the cancelled batch was concluded already (its finished items resumed)."""
    query = select(batch_cancels.c.finished_at).where(batch_cancels.c.batch_id == batch_job_id)
    async with engine.connect() as connection:
        return (await connection.execute(query)).scalar() is not None


async def finish_cancel(engine: AsyncEngine, batch: CancelRequest) -> bool:
    """The provider ended the cancelled batch and its results are applied: pollers stop asking about it.

    A batch the provider cancelled by itself has no row yet; it gets a finished one (never due), which
    marks its conclusion the same way. True when this call finished it.
    """
    statement = insert(batch_cancels).values(
        batch_id=batch.batch_job_id,
        provider=batch.provider,
        provider_batch_id=batch.provider_batch_id,
        requested_at=func.now(),
        finished_at=func.now(),
    )
    statement = statement.on_conflict_do_update(
        index_elements=["batch_id"],
        set_={"finished_at": func.now(), "claimed_until": None},
        where=batch_cancels.c.finished_at.is_(None),
    )
    async with engine.begin() as connection:
        return (await connection.execute(statement)).rowcount == 1


async def cancelled_batches_to_follow(engine: AsyncEngine) -> list[RunningBatch]:
    """Cancelled batches whose provider answered the cancel but has not ended them: polled as if running."""
    query = (
        select(jobs.c.id, batch_cancels.c.provider, batch_cancels.c.provider_batch_id)
        .select_from(batch_cancels.join(jobs, jobs.c.id == batch_cancels.c.batch_id))
        .where(
            batch_cancels.c.outcome.is_not(None),
            batch_cancels.c.finished_at.is_(None),
            jobs.c.status == Status.CANCELLED.value,
        )
        .order_by(batch_cancels.c.requested_at, jobs.c.id)
    )
    async with engine.connect() as connection:
        return [RunningBatch(*row) for row in await connection.execute(query)]


class PostgresCancelLedger:
    """The poller's cancel ledger (`streams.poller.cancelling.CancelLedger`) on these statements."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def due(self) -> list[CancelRequest]:
        return await due_cancels(self._engine)

    async def claim(self, batch_job_id: str, lease_s: float) -> bool:
        return await claim_cancel(self._engine, batch_job_id, lease_s)

    async def record(
        self, batch_job_id: str, outcome: CancelOutcome, error: str | None, *, finished: bool
    ) -> None:
        await record_cancel(self._engine, batch_job_id, outcome, error, finished=finished)

    async def release(self, batch_job_id: str, error: str) -> None:
        await release_cancel(self._engine, batch_job_id, error)

    async def following(self) -> list[RunningBatch]:
        return await cancelled_batches_to_follow(self._engine)
