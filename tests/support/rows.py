"""Batch rows written straight to Postgres, for query and API tests that need no worker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.batch_results import ItemResult, ItemResultType, item_result_id
from storage.tables import batch_items

NOW = datetime.now(UTC)
# add_job(prefix, status="created", job_type="run", **columns) -> job id (see the `add_job` fixture)
AddJob = Callable[..., Awaitable[str]]


async def add_batch(engine: AsyncEngine, add_job: AddJob, children: dict[str, str], **columns: object) -> str:
    """A batch job row with one batch_items row per `custom_id -> job id`, as a `create` would write."""
    batch_id = await add_job("qbatch", job_type="batch", **columns)
    async with engine.begin() as connection:
        await connection.execute(
            insert(batch_items),
            [
                {"batch_id": batch_id, "custom_id": c, "job_id": j, "updated_at": NOW}
                for c, j in children.items()
            ],
        )
    return batch_id


def result(batch_id: str, custom_id: str, kind: ItemResultType, **body: object) -> ItemResult:
    return ItemResult(
        result_id=item_result_id(batch_id, custom_id, kind),
        custom_id=custom_id,
        result_type=kind,
        result={"type": kind, **body},
    )
