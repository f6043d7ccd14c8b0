"""Rule 14 in the command processor, against the real Postgres: what a delete removes and what stays."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from storage.job_store import JobStore
from storage.purge import pending_purges, purge_step
from storage.queries.batches import record_provider_state
from streams.settings import Settings
from tests.support.pipeline import unique
from tests.support.poll_results import poll_result
from tests.support.processing import DictCache, batch_of, process

pytestmark = pytest.mark.e2e


async def _rows(settings: Settings, job: str) -> dict[str, Any]:
    """What Postgres holds about one job, table by table."""
    pg = await asyncpg.connect(settings.postgres_url)
    try:
        return {
            "jobs": await pg.fetchval("SELECT count(*) FROM jobs WHERE id = $1", job),
            "events": [
                r["type"]
                for r in await pg.fetch("SELECT type FROM job_events WHERE job_id = $1 ORDER BY seq", job)
            ],
            "messages": await pg.fetchval("SELECT count(*) FROM job_messages WHERE job_id = $1", job),
            "rejections": await pg.fetchval("SELECT count(*) FROM job_rejections WHERE job_id = $1", job),
            "deliveries": await pg.fetchval(
                "SELECT count(*) FROM callback_deliveries WHERE job_id = $1", job
            ),
            "items": await pg.fetchval("SELECT count(*) FROM batch_items WHERE batch_id = $1", job),
            "states": await pg.fetchval(
                "SELECT count(*) FROM batch_provider_states WHERE batch_id = $1", job
            ),
        }
    finally:
        await pg.close()


async def _add_delivery(settings: Settings, job: str) -> None:
    pg = await asyncpg.connect(settings.postgres_url)
    try:
        await pg.execute(
            "INSERT INTO callback_deliveries (event_id, job_id, url, payload, next_attempt_at, created_at)"
            " VALUES ($1, $2, 'http://127.0.0.1:9/hook', '{}', now(), now())",
            f"{job}:9",
            job,
        )
    finally:
        await pg.close()


async def test_delete_removes_everything_but_its_tombstone(store: JobStore, settings: Settings) -> None:
    job = unique("del")
    cache = DictCache()
    await process(
        store,
        cache,
        batch_of(
            job,
            {"type": "create", "metadata": {"secret": "s"}, "callback_url": "https://example.com/h?token=t"},
            {"type": "attach_messages", "message_ids": ["m1", "m2"]},
            {"type": "transition", "status": "created"},  # rejected, and stored
            {"type": "transition", "status": "completed"},
        ),
    )
    await _add_delivery(settings, job)
    assert (await _rows(settings, job))["deliveries"] == 1
    events = await process(store, cache, batch_of(job, {"type": "delete", "command_id": f"{job}-del"}))
    assert [(e["type"], e["event_id"]) for e in events] == [("job.deleted", f"{job}:4")]
    deleted = events[0]["job"]
    assert (deleted["status"], deleted["seq"], deleted["metadata"], deleted["callback_url"]) == (
        "completed", 4, {}, None,
    )  # fmt: skip
    # Gone with the delete: the row and its deliveries. Its history waits for the purge, in bounded steps.
    assert await _rows(settings, job) == {
        "jobs": 0, "events": ["job.created", "job.messages_attached", "job.status_changed", "job.deleted"],
        "messages": 2, "rejections": 1, "deliveries": 0, "items": 0, "states": 0,
    }  # fmt: skip
    assert job not in cache.states and cache.tombstones == [job]
    assert job in await pending_purges(store.engine, 100_000)
    steps = []
    while not steps or not steps[-1].finished:
        steps.append(await purge_step(store.engine, job, step=2))
    assert [s.removed for s in steps] == [5, 1]  # 2 events + 2 messages + 1 rejection, then the last event
    assert await _rows(settings, job) == {
        "jobs": 0, "events": ["job.deleted"], "messages": 0, "rejections": 0, "deliveries": 0, "items": 0,
        "states": 0,
    }  # fmt: skip
    assert job not in await pending_purges(store.engine, 100_000)


async def test_after_a_delete(store: JobStore) -> None:
    """A duplicate delete re-emits its event; other commands find no job; the id is not reused."""
    job = unique("del")
    cache = DictCache()
    await process(
        store, cache, batch_of(job, {"type": "create"}, {"type": "delete", "command_id": f"{job}-d"})
    )
    events = await process(
        store,
        DictCache(),  # a fresh table: a redelivery after a crash sends the tombstone again
        batch_of(
            job,
            {"type": "delete", "command_id": f"{job}-d"},
            {"type": "transition", "status": "running"},
            {"type": "delete"},
            {"type": "create"},
        ),
    )
    assert [(e["type"], e.get("reason", {}).get("code")) for e in events] == [
        ("job.deleted", None),
        ("job.command_rejected", "job_not_found"),
        ("job.command_rejected", "job_not_found"),
        ("job.command_rejected", "job_exists"),
    ]
    assert events[0]["event_id"] == f"{job}:2"


async def test_created_and_deleted_in_one_batch(store: JobStore, settings: Settings) -> None:
    job = unique("del")
    cache = DictCache()
    events = await process(
        store,
        cache,
        batch_of(
            job, {"type": "create"}, {"type": "update_metadata", "metadata": {"a": 1}}, {"type": "delete"}
        ),
    )
    assert [e["seq"] for e in events] == [1, 2, 3]
    assert (await purge_step(store.engine, job, step=10)).finished
    assert (await _rows(settings, job))["events"] == ["job.deleted"]
    assert (await _rows(settings, job))["jobs"] == 0
    assert job not in cache.states


async def test_deleting_a_batch_job_removes_its_item_mapping_not_its_item_jobs(
    store: JobStore, settings: Settings
) -> None:
    batch, child = unique("del-batch"), unique("del-child")
    cache = DictCache()
    await process(store, cache, batch_of(child, {"type": "create", "batch_id": batch}))
    create_batch = {
        "type": "create",
        "job_type": "batch",
        "provider": "anthropic",
        "provider_batch_id": "msgbatch_1",
        "items": [{"custom_id": "c1", "job_id": child}],
    }
    await process(store, cache, batch_of(batch, create_batch))
    await record_provider_state(store.engine, poll_result(batch))
    assert ((await _rows(settings, batch))["items"], (await _rows(settings, batch))["states"]) == (1, 1)
    await process(store, cache, batch_of(batch, {"type": "delete"}))
    assert ((await _rows(settings, batch))["items"], (await _rows(settings, batch))["states"]) == (0, 0)
    assert (await _rows(settings, child))["jobs"] == 1


async def test_timings_are_recorded_without_a_status_change(store: JobStore) -> None:
    """Letta's record_ttft / record_response_duration: update_metadata carries them, in any status."""
    job = unique("timing")
    events = await process(
        store,
        DictCache(),
        batch_of(
            job,
            {"type": "create", "status": "running"},
            {"type": "update_metadata", "ttft_ns": 1_500_000},
            {"type": "transition", "status": "completed"},
            {"type": "update_metadata", "total_duration_ns": 9_000_000_000},
        ),
    )
    assert [e["type"] for e in events] == [
        "job.created", "job.metadata_updated", "job.status_changed", "job.metadata_updated",
    ]  # fmt: skip
    last = events[-1]["job"]
    assert (last["ttft_ns"], last["total_duration_ns"], last["status"]) == (
        1_500_000,
        9_000_000_000,
        "completed",
    )


async def test_a_long_history_is_purged_in_bounded_steps(store: JobStore, settings: Settings) -> None:
    """Tens of thousands of events: the delete leaves them to the purge, which takes them a step at a time."""
    job = unique("del-long")
    cache = DictCache()
    await process(store, cache, batch_of(job, {"type": "create"}))
    pg = await asyncpg.connect(settings.postgres_url)
    try:  # 30,000 more events, as 30,000 metadata updates would have left them
        await pg.execute(
            "INSERT INTO job_events (event_id, job_id, seq, command_id, type, payload, occurred_at)"
            " SELECT $1 || ':' || n, $1, n, 'c' || n, 'job.metadata_updated', '{}', now()"
            " FROM generate_series(2, 30001) AS n",
            job,
        )
        await pg.execute("UPDATE jobs SET seq = 30001 WHERE id = $1", job)
    finally:
        await pg.close()
    events = await process(store, DictCache(), batch_of(job, {"type": "delete"}))  # reloads seq 30,001
    assert [(e["type"], e["seq"]) for e in events] == [("job.deleted", 30002)]
    steps = []
    while not steps or not steps[-1].finished:
        steps.append(await purge_step(store.engine, job, step=5_000))
    assert [s.removed for s in steps] == [5_000] * 6 + [1]
    assert (await _rows(settings, job))["events"] == ["job.deleted"]
