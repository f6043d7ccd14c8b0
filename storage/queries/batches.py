"""Batch queries: the poller's scan, item results (idempotent upsert), resume items and progress."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.batch_results import BatchPollResult, ItemResult
from schemas.vocabulary import INITIAL, JobType
from storage.tables import batch_cancels, batch_items, batch_provider_states, jobs

# Enough rows per statement to be fast, few enough to stay far below Postgres' 32767 parameters.
_UPSERT_ROWS = 1000


class RunningBatch(NamedTuple):
    """A batch job the database says is running, and where the provider knows it."""

    batch_job_id: str
    provider: str
    provider_batch_id: str


class BatchJob(NamedTuple):
    """The batch job's row, reduced to what deciding its next command needs."""

    id: str
    status: str
    organization_id: str | None


class ItemJob(NamedTuple):
    """A batch item and its child job; `job_status` is None when no such job exists."""

    custom_id: str
    job_id: str
    job_status: str | None


class ResumeItem(NamedTuple):
    job_id: str
    custom_id: str
    result_status: str | None
    agent_id: str | None


@dataclass(frozen=True)
class BatchProgress:
    """`GET /batches/{id}`: the batch job and its items counted by result and by child status."""

    id: str
    status: str
    provider: str | None
    provider_batch_id: str | None
    created_at: datetime
    completed_at: datetime | None
    total_items: int
    results: dict[str, int]  # result_status -> items; "pending" for items with no result yet
    job_statuses: dict[str, int]  # child job status -> items; "missing" for items with no job
    provider_cancel: dict[str, Any] | None = None  # the cancel owed to the provider, once one is
    provider_state: dict[str, Any] | None = None  # what the provider last said, once a poll came in


# A batch_cancels row with no outcome that is finished only marks a batch concluded (no cancel was owed
# or sent by then): not shown as a cancel.
_CANCEL_FIELDS = ("outcome", "error", "attempts", "requested_at", "outcome_at", "finished_at")


async def running_batches(engine: AsyncEngine) -> list[RunningBatch]:
    """Batch jobs not yet terminal that a provider knows: what each poll round asks about."""
    query = select(jobs.c.id, jobs.c.provider, jobs.c.provider_batch_id).where(
        jobs.c.job_type == JobType.BATCH.value,
        jobs.c.status.in_([s.value for s in INITIAL]),
        jobs.c.provider.is_not(None),
        jobs.c.provider_batch_id.is_not(None),
    )
    async with engine.connect() as connection:
        rows = await connection.execute(query.order_by(jobs.c.created_at, jobs.c.id))
        return [RunningBatch(*row) for row in rows]


async def find_batch_job(engine: AsyncEngine, batch_id: str) -> BatchJob | None:
    query = select(jobs.c.id, jobs.c.status, jobs.c.organization_id).where(
        jobs.c.id == batch_id, jobs.c.job_type == JobType.BATCH.value
    )
    async with engine.connect() as connection:
        row = (await connection.execute(query)).first()
    return BatchJob(*row) if row is not None else None


async def store_item_results(
    engine: AsyncEngine, batch_id: str, results: Sequence[ItemResult], now: datetime
) -> int:
    """Record each item's result by (batch_id, custom_id); returns how many rows changed.

    A re-polled result changes nothing, not even `updated_at`. An item the batch was created
    without is recorded with `job_id = custom_id` (the wire model's convention), so a batch
    created without `items` still gets one row per provider item.
    """
    latest = {item.custom_id: item for item in results}  # one row may not be upserted twice per statement
    rows = [
        {
            "batch_id": batch_id,
            "custom_id": item.custom_id,
            "job_id": item.custom_id,
            "result_status": item.result_type,
            "result": _storable(item.result),
            "updated_at": now,
        }
        for item in latest.values()
    ]
    changed = 0
    async with engine.begin() as connection:
        for start in range(0, len(rows), _UPSERT_ROWS):
            statement = insert(batch_items).values(rows[start : start + _UPSERT_ROWS])
            new = statement.excluded
            statement = statement.on_conflict_do_update(
                constraint="uq_batch_items_custom",
                set_={"result_status": new.result_status, "result": new.result, "updated_at": new.updated_at},
                where=or_(
                    batch_items.c.result_status.is_distinct_from(new.result_status),
                    batch_items.c.result.is_distinct_from(new.result),
                ),
            )
            changed += (await connection.execute(statement)).rowcount
    return changed


def _storable(document: dict[str, Any]) -> dict[str, Any]:
    """jsonb cannot hold U+0000, which model output may contain; a stuck partition would be worse."""
    if b"\\u0000" not in orjson.dumps(document):  # the common case: nothing to walk
        return document
    cleaned: dict[str, Any] = _without_nul(document)
    return cleaned


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


async def record_provider_state(engine: AsyncEngine, result: BatchPollResult) -> None:
    """Keep what the provider said in this poll unless a later poll is already recorded."""
    row = {
        "batch_id": result.batch_job_id,
        "provider_status": result.provider_status,
        "outcome": result.end_state,
        "request_counts": result.request_counts.model_dump() if result.request_counts is not None else None,
        "polled_at": result.polled_at,
    }
    statement = insert(batch_provider_states).values(row)
    statement = statement.on_conflict_do_update(
        index_elements=["batch_id"],
        set_={name: statement.excluded[name] for name in row if name != "batch_id"},
        where=batch_provider_states.c.polled_at < statement.excluded.polled_at,
    )
    async with engine.begin() as connection:
        await connection.execute(statement)


async def item_jobs(engine: AsyncEngine, batch_id: str, custom_ids: Collection[str]) -> dict[str, ItemJob]:
    """The child job (and its status) behind each custom_id, to skip children already terminal."""
    query = (
        select(batch_items.c.custom_id, batch_items.c.job_id, jobs.c.status)
        .select_from(batch_items.outerjoin(jobs, jobs.c.id == batch_items.c.job_id))
        .where(batch_items.c.batch_id == batch_id, batch_items.c.custom_id.in_(list(custom_ids)))
    )
    async with engine.connect() as connection:
        return {row.custom_id: ItemJob(*row) for row in await connection.execute(query)}


async def unrecorded_items(engine: AsyncEngine, batch_id: str) -> list[str]:
    """custom_ids of the batch's items still without a result."""
    query = select(batch_items.c.custom_id).where(
        batch_items.c.batch_id == batch_id, batch_items.c.result_status.is_(None)
    )
    async with engine.connect() as connection:
        return list((await connection.execute(query)).scalars())


async def recorded_counts(engine: AsyncEngine, batch_id: str) -> tuple[int, int]:
    """(items, items with a result): the batch may conclude only when they are equal."""
    query = select(func.count(), func.count(batch_items.c.result_status)).where(
        batch_items.c.batch_id == batch_id
    )
    async with engine.connect() as connection:
        total, recorded = (await connection.execute(query)).one()
    return total, recorded


async def resume_items(engine: AsyncEngine, batch_id: str) -> list[ResumeItem]:
    """Every item with its result and the child's agent, for the resumption notices."""
    query = (
        select(batch_items.c.job_id, batch_items.c.custom_id, batch_items.c.result_status, jobs.c.agent_id)
        .select_from(batch_items.outerjoin(jobs, jobs.c.id == batch_items.c.job_id))
        .where(batch_items.c.batch_id == batch_id)
        .order_by(batch_items.c.custom_id)
    )
    async with engine.connect() as connection:
        return [ResumeItem(*row) for row in await connection.execute(query)]


async def batch_progress(
    engine: AsyncEngine, batch_id: str, organization_id: str | None
) -> BatchProgress | None:
    """None when there is no such batch in the caller's organization (the API's 404 either way)."""
    batch_query = select(
        jobs.c.id,
        jobs.c.status,
        jobs.c.provider,
        jobs.c.provider_batch_id,
        jobs.c.created_at,
        jobs.c.completed_at,
    ).where(
        jobs.c.id == batch_id,
        jobs.c.job_type == JobType.BATCH.value,
        jobs.c.organization_id.is_not_distinct_from(organization_id),
    )
    counts_query = (
        select(batch_items.c.result_status, jobs.c.status, func.count())
        .select_from(batch_items.outerjoin(jobs, jobs.c.id == batch_items.c.job_id))
        .where(batch_items.c.batch_id == batch_id)
        .group_by(batch_items.c.result_status, jobs.c.status)
    )
    async with engine.connect() as connection:
        batch = (await connection.execute(batch_query)).first()
        if batch is None:
            return None
        grouped = (await connection.execute(counts_query)).all()
        cancel = (
            await connection.execute(
                select(*(batch_cancels.c[name] for name in _CANCEL_FIELDS)).where(
                    batch_cancels.c.batch_id == batch_id,
                    or_(batch_cancels.c.outcome.is_not(None), batch_cancels.c.finished_at.is_(None)),
                )
            )
        ).first()
        state = (
            await connection.execute(
                select(
                    batch_provider_states.c.provider_status,
                    batch_provider_states.c.outcome,
                    batch_provider_states.c.request_counts,
                    batch_provider_states.c.polled_at,
                ).where(batch_provider_states.c.batch_id == batch_id)
            )
        ).first()
    results: Counter[str] = Counter()
    job_statuses: Counter[str] = Counter()
    for result_status, job_status, count in grouped:
        results[result_status or "pending"] += count
        job_statuses[job_status or "missing"] += count
    return BatchProgress(
        id=batch.id,
        status=batch.status,
        provider=batch.provider,
        provider_batch_id=batch.provider_batch_id,
        created_at=batch.created_at,
        completed_at=batch.completed_at,
        total_items=sum(results.values()),
        results=dict(results),
        job_statuses=dict(job_statuses),
        provider_cancel=dict(cancel._mapping) if cancel is not None else None,
        provider_state=dict(state._mapping) if state is not None else None,
    )
