"""The batch queries against the real Postgres: idempotent upserts, counts, scans and progress."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.queries.batches import (
    ItemJob,
    ResumeItem,
    batch_progress,
    item_jobs,
    recorded_counts,
    resume_items,
    running_batches,
    store_item_results,
)
from storage.tables import batch_items
from tests.support.rows import NOW, AddJob, add_batch, result

pytestmark = pytest.mark.e2e


async def test_item_results_are_upserted_idempotently(engine: AsyncEngine, add_job: AddJob) -> None:
    child = await add_job("qchild", status="running")
    batch_id = await add_batch(engine, add_job, {"a": child, "b": "no-such-job"})
    assert await recorded_counts(engine, batch_id) == (2, 0)

    assert await store_item_results(engine, batch_id, [result(batch_id, "a", "succeeded")], NOW) == 1
    later = NOW + timedelta(minutes=1)
    assert await store_item_results(engine, batch_id, [result(batch_id, "a", "succeeded")], later) == 0
    async with engine.connect() as connection:
        stamp = (
            await connection.execute(
                select(batch_items.c.updated_at).where(
                    batch_items.c.batch_id == batch_id, batch_items.c.custom_id == "a"
                )
            )
        ).scalar_one()
    assert stamp == NOW, "a repeated result must not even touch updated_at"
    assert await recorded_counts(engine, batch_id) == (2, 1)

    results = [result(batch_id, "b", "errored"), result(batch_id, "extra", "expired")]
    assert await store_item_results(engine, batch_id, results, later) == 2
    assert await recorded_counts(engine, batch_id) == (3, 3)
    assert await item_jobs(engine, batch_id, ["a", "b", "extra"]) == {
        "a": ItemJob("a", child, "running"),
        "b": ItemJob("b", "no-such-job", None),
        "extra": ItemJob("extra", "extra", None),  # not among the items: job_id = custom_id
    }


async def test_running_batches_are_the_unfinished_ones_a_provider_knows(
    engine: AsyncEngine, add_job: AddJob
) -> None:
    known = {"provider": "anthropic", "provider_batch_id": "msgbatch_q"}
    running = await add_job("qrun", status="running", job_type="batch", **known)
    created = await add_job("qnew", status="created", job_type="batch", **known)
    done = await add_job("qdone", status="completed", job_type="batch", **known)
    no_provider = await add_job("qnoprov", status="running", job_type="batch")
    not_a_batch = await add_job("qjob", status="running", **known)

    found = {batch.batch_job_id: batch for batch in await running_batches(engine)}
    assert found[running] == (running, "anthropic", "msgbatch_q") and created in found
    assert not {done, no_provider, not_a_batch} & set(found)


async def test_progress_counts_results_and_child_statuses_within_the_organization(
    engine: AsyncEngine, add_job: AddJob
) -> None:
    children = {
        f"c{n}": await add_job("qchild", status=s, agent_id=f"agent-{n}")
        for n, s in enumerate(["completed", "failed", "created"])
    }
    batch_id = await add_batch(engine, add_job, {**children, "gone": "no-such-job"}, organization_id="org-q")
    await store_item_results(
        engine, batch_id, [result(batch_id, "c0", "succeeded"), result(batch_id, "c1", "errored")], NOW
    )

    progress = await batch_progress(engine, batch_id, "org-q")
    assert progress is not None and progress.total_items == 4
    assert progress.results == {"succeeded": 1, "errored": 1, "pending": 2}
    assert progress.job_statuses == {"completed": 1, "failed": 1, "created": 1, "missing": 1}
    assert await batch_progress(engine, batch_id, "org-other") is None
    assert await batch_progress(engine, children["c0"], None) is None, "not a batch"

    items = await resume_items(engine, batch_id)
    assert ResumeItem(children["c0"], "c0", "succeeded", "agent-0") in items
    assert ResumeItem("no-such-job", "gone", None, None) in items


async def test_a_result_with_nul_characters_is_stored_not_retried_forever(
    engine: AsyncEngine, add_job: AddJob
) -> None:
    batch_id = await add_batch(engine, add_job, {"a": await add_job("qchild")})
    nul = result(batch_id, "a", "succeeded", text="before\x00after")
    assert await store_item_results(engine, batch_id, [nul], NOW) == 1
    assert await store_item_results(engine, batch_id, [nul], NOW) == 0
    async with engine.connect() as connection:
        stored = (
            await connection.execute(select(batch_items.c.result).where(batch_items.c.batch_id == batch_id))
        ).scalar_one()
    assert stored["text"] == "before\ufffdafter"
