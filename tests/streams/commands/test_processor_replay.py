"""A batch redelivered after a crash (committed to Postgres, offsets not committed) changes nothing more."""

from __future__ import annotations

import pytest

from storage.job_store import JobStore
from tests.support.pipeline import unique
from tests.support.processing import DictCache, batch_of, process

pytestmark = pytest.mark.e2e


async def test_redelivered_duplicates_bring_the_table_back_to_postgres(store: JobStore) -> None:
    """The worker died after its commit, before the table write: the replay must refresh the table."""
    job = unique("replay")
    batch = batch_of(job, {"type": "create"}, {"type": "transition", "status": "running"})
    await process(store, DictCache(), batch)
    after_crash = DictCache()
    replayed = await process(store, after_crash, batch)
    assert [e["event_id"] for e in replayed] == [f"{job}:1", f"{job}:2"]  # re-emitted, not re-applied
    state = after_crash.states.get(job)
    assert state is not None and (state.status.value, state.seq) == ("running", 2)


async def test_redelivered_duplicates_write_the_state_again(store: JobStore) -> None:
    """Killed after the local store took the write but before the changelog did: the replay writes again."""
    job = unique("replay")
    batch = batch_of(job, {"type": "create"}, {"type": "transition", "status": "running"})
    local = DictCache()
    await process(store, local, batch)
    local.written.clear()  # the changelog lost them; the local store (seq 2, equal to Postgres) did not
    await process(store, local, batch)
    assert [(state.id, state.seq) for state in local.written] == [(job, 2)]


async def test_a_redelivered_rejection_is_not_applied_out_of_order(store: JobStore) -> None:
    job = unique("replay")
    batch = batch_of(
        job,
        {"type": "create"},
        {"type": "transition", "status": "running", "expected_status": "pending"},  # rejected: created
        {"type": "transition", "status": "pending"},
    )
    first = await process(store, DictCache(), batch)
    assert [e["type"] for e in first] == ["job.created", "job.command_rejected", "job.status_changed"]
    replayed = await process(store, DictCache(), batch)
    assert [e["event_id"] for e in replayed] == [e["event_id"] for e in first]
