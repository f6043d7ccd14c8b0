"""Rule 11's one-statement path, against the real Postgres: taken when Postgres holds what the worker's
state table does, and never trusted when it does not (another writer, a delete, a redelivery)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY

from schemas.job import JobState
from storage.job_store import BatchWrite, JobStore
from storage.purge import purge_step
from streams.commands.processor import CommandProcessor
from streams.settings import Settings, Topics
from tests.support.pipeline import unique
from tests.support.processing import DictCache, RecordingProducer, batch_of, process

pytestmark = pytest.mark.e2e


def _copy(cache: DictCache) -> DictCache:
    """Another worker's table, holding what this one does now."""
    other = DictCache()
    other.states.update(cache.states)
    return other


def _writes(path: str) -> float:
    return REGISTRY.get_sample_value("jobstream_batch_writes_total", {"path": path}) or 0.0


def _fallbacks() -> float:
    return REGISTRY.get_sample_value("jobstream_batch_fallbacks_total") or 0.0


async def _stored(settings: Settings, job: str) -> dict[str, Any]:
    """The job's row (status, seq) and the types of its stored events and rejections."""
    pg = await asyncpg.connect(settings.postgres_url)
    try:
        row = await pg.fetchrow("SELECT status, seq FROM jobs WHERE id = $1", job)
        events = await pg.fetch("SELECT type FROM job_events WHERE job_id = $1 ORDER BY seq", job)
        rejections = await pg.fetchval("SELECT count(*) FROM job_rejections WHERE job_id = $1", job)
    finally:
        await pg.close()
    return {
        "row": (row["status"], row["seq"]) if row else None,
        "events": [e["type"] for e in events],
        "rejections": rejections,
    }


async def test_batches_the_table_agrees_on_take_the_one_statement_path(
    store: JobStore, settings: Settings
) -> None:
    job = unique("fast")
    cache = DictCache()
    unchanged, locked = _writes("unchanged"), _writes("locked")
    first = await process(store, cache, batch_of(job, {"type": "create"}))
    second = await process(
        store,
        cache,
        batch_of(
            job,
            {"type": "transition", "status": "pending"},
            {"type": "transition", "status": "created"},  # rejected, and stored with the batch
            {"type": "attach_messages", "message_ids": ["m1"]},
        ),
    )
    assert (_writes("unchanged") - unchanged, _writes("locked") - locked) == (2, 0)
    assert [e["event_id"] for e in first + second] == [
        f"{job}:1",
        f"{job}:2",
        second[1]["event_id"],
        f"{job}:3",
    ]
    assert await _stored(settings, job) == {
        "row": ("pending", 3),
        "events": ["job.created", "job.status_changed", "job.messages_attached"],
        "rejections": 1,
    }
    state = cache.states[job]
    assert (state.status.value, state.seq) == ("pending", 3)


async def test_a_large_batch_takes_the_one_statement_path(store: JobStore, settings: Settings) -> None:
    job = unique("large")
    unchanged, locked = _writes("unchanged"), _writes("locked")
    messages = [{"type": "attach_messages", "message_ids": [f"m{i}"]} for i in range(300)]
    events = await process(store, DictCache(), batch_of(job, {"type": "create"}, *messages))
    assert (_writes("unchanged") - unchanged, _writes("locked") - locked) == (1, 0)
    assert [e["seq"] for e in events] == list(range(1, 302))
    assert (await _stored(settings, job))["row"] == ("created", 301)


async def test_a_resend_the_processor_wrote_lately_goes_straight_to_the_locked_path(
    store: JobStore, settings: Settings
) -> None:
    """Its outcome must be read first; another worker, which did not write it, finds that out from the
    statement's guard (one refused statement), then re-emits the same events."""
    job = unique("lately")
    cache, producer = DictCache(), RecordingProducer()
    processor = CommandProcessor(store, cache, producer, Topics())  # type: ignore[arg-type]
    batch = batch_of(job, {"type": "create"}, {"type": "transition", "status": "pending"})
    await processor.process(batch)
    fallbacks, locked = _fallbacks(), _writes("locked")
    await processor.process([batch[1]])
    assert (_fallbacks() - fallbacks, _writes("locked") - locked) == (0, 1)
    elsewhere = await process(store, _copy(cache), [batch[1]])
    assert (_fallbacks() - fallbacks, _writes("locked") - locked) == (1, 2)
    assert [e["event_id"] for e in producer.sent + elsewhere] == [
        f"{job}:1",
        f"{job}:2",
        f"{job}:2",
        f"{job}:2",
    ]
    assert (await _stored(settings, job))["row"] == ("pending", 2)


async def test_a_table_behind_postgres_takes_the_locked_path_and_catches_up(
    store: JobStore, settings: Settings
) -> None:
    """Another worker applied a command meanwhile (a rebalance): the stale state is not written over."""
    job = unique("behind")
    behind = DictCache()
    await process(store, behind, batch_of(job, {"type": "create"}))
    ahead = _copy(behind)
    await process(store, ahead, batch_of(job, {"type": "transition", "status": "pending"}))
    locked = _writes("locked")
    events = await process(store, behind, batch_of(job, {"type": "transition", "status": "running"}))
    assert _writes("locked") - locked == 1
    assert [(e["event_id"], e["job"]["status"]) for e in events] == [(f"{job}:3", "running")]
    assert (await _stored(settings, job))["row"] == ("running", 3)
    assert behind.states[job].seq == 3


async def test_a_job_the_table_does_not_know_is_not_created_over(store: JobStore, settings: Settings) -> None:
    job = unique("unknown")
    await process(store, DictCache(), batch_of(job, {"type": "create"}))
    events = await process(store, DictCache(), batch_of(job, {"type": "create"}))  # another command id
    assert [(e["type"], e["reason"]["code"]) for e in events] == [("job.command_rejected", "job_exists")]
    assert await _stored(settings, job) == {"row": ("created", 1), "events": ["job.created"], "rejections": 1}


async def test_a_redelivered_batch_is_re_emitted_not_decided_again(
    store: JobStore, settings: Settings
) -> None:
    """The table is up to date (the worker died after its commit and table write, before its ack)."""
    job = unique("resent")
    cache = DictCache()
    batch = batch_of(job, {"type": "create"}, {"type": "transition", "status": "pending"})
    first = await process(store, cache, batch)
    replayed = await process(store, cache, batch)
    assert [e["event_id"] for e in replayed] == [e["event_id"] for e in first] == [f"{job}:1", f"{job}:2"]
    assert await _stored(settings, job) == {
        "row": ("pending", 2), "events": ["job.created", "job.status_changed"], "rejections": 0,
    }  # fmt: skip


async def test_a_job_deleted_meanwhile_is_not_recreated(store: JobStore, settings: Settings) -> None:
    job = unique("gone")
    stale = DictCache()
    await process(store, stale, batch_of(job, {"type": "create"}))
    await process(store, _copy(stale), batch_of(job, {"type": "delete"}))
    events = await process(store, stale, batch_of(job, {"type": "transition", "status": "pending"}))
    assert [(e["type"], e["reason"]["code"]) for e in events] == [("job.command_rejected", "job_not_found")]
    assert (await _stored(settings, job))["row"] is None


async def test_a_purged_job_is_not_created_again(store: JobStore, settings: Settings) -> None:
    """Once a deleted job's history is purged only its tombstone says it existed: the guard reads it."""
    job = unique("purged")
    await process(store, DictCache(), batch_of(job, {"type": "create"}, {"type": "delete"}))
    while not (await purge_step(store.engine, job, step=100)).finished:
        pass
    events = await process(store, DictCache(), batch_of(job, {"type": "create"}))  # a new command id
    assert [(e["type"], e["reason"]["code"]) for e in events] == [("job.command_rejected", "job_exists")]
    assert (await _stored(settings, job))["row"] is None


async def test_a_batch_that_waited_for_the_lock_is_decided_on_what_the_holder_committed(
    store: JobStore, settings: Settings
) -> None:
    """The batch only rejects (nothing to update, so no count to catch it): the guard must read the job
    after the lock, not in the snapshot its statement began with."""
    job = unique("race")
    stale = DictCache()
    await process(store, stale, batch_of(job, {"type": "create"}))
    holder = await asyncpg.connect(settings.postgres_url)
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute("UPDATE jobs SET status = 'pending', seq = 2 WHERE id = $1", job)  # locks it
        await holder.execute(
            "INSERT INTO job_events (event_id, job_id, seq, command_id, type, payload, occurred_at)"
            " VALUES ($1 || ':2', $1, 2, 'elsewhere', 'job.status_changed', '{}', now())",
            job,
        )
        waiting = asyncio.create_task(
            process(
                store,
                stale,  # still at seq 1, created: the command looks like a status mismatch to it
                batch_of(job, {"type": "transition", "status": "running", "expected_status": "pending"}),
            )
        )
        await asyncio.sleep(0.5)
        assert not waiting.done(), "the batch waits for the holder's lock"
        await transaction.commit()
        events = await waiting
    finally:
        await holder.close()
    assert [(e["type"], e["seq"]) for e in events] == [("job.status_changed", 3)]
    assert await _stored(settings, job) == {
        "row": ("running", 3), "events": ["job.created", "job.status_changed", "job.status_changed"],
        "rejections": 0,
    }  # fmt: skip


async def test_a_part_that_finds_postgres_changed_undoes_the_whole_statement(
    store: JobStore, settings: Settings
) -> None:
    """The guard passed, but the update matched no row (its expected seq is not the row's): nothing of the
    batch may stay, not even the parts that did write."""
    job = unique("undo")
    cache = DictCache()
    await process(store, cache, batch_of(job, {"type": "create"}))
    state: JobState = cache.states[job]
    now = datetime.now(UTC)
    moved = replace(state, seq=2)
    event = (
        b'{"event_id":"%s:2","job_id":"%s","seq":2,"command_id":"c2","type":"job.metadata_updated",'
        b'"occurred_at":"%s"}' % (job.encode(), job.encode(), now.isoformat().encode())
    )
    write = BatchWrite(updated=[(moved, 0)], events=[event])  # seq 0: not the row's 1
    assert not await store.write_if_unchanged(write, {job: 1}, [(job, "c2")])
    assert await _stored(settings, job) == {"row": ("created", 1), "events": ["job.created"], "rejections": 0}
    with pytest.raises(ValueError, match="deletes"):
        await store.write_if_unchanged(BatchWrite(deleted=[job]), {job: 1}, [(job, "c3")])
