"""A batch redelivered after a crash (committed to Postgres, offsets not committed) changes nothing more."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson
import pytest

from schemas.job import JobState
from storage.database import create_engine
from storage.job_store import JobStore
from streams.commands.processor import CommandProcessor, Record
from streams.devtools.stack.stack import LocalStack
from streams.kafka.producer import OutRecord
from streams.settings import Settings, Topics
from tests.support.pipeline import command, unique

pytestmark = pytest.mark.e2e


class DictCache:
    """The job-state table as a dict; a new one is a table that lost its writes in the crash."""

    def __init__(self) -> None:
        self.states: dict[str, JobState] = {}
        self.written: list[JobState] = []  # what reached the changelog, in Faust's terms

    def get_many(self, items: Iterable[tuple[Any, str]]) -> dict[str, JobState | None]:
        return {job_id: self.states.get(job_id) for _, job_id in items}

    def put_many(self, items: Iterable[tuple[Any, JobState]]) -> None:
        for _, state in items:
            self.states[state.id] = state
            self.written.append(state)

    async def confirm(self) -> None:
        pass


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_all(self, records: Iterable[OutRecord]) -> None:
        self.sent.extend(orjson.loads(r.value) for r in records if r.value)  # not JSON: an empty dead letter


@pytest.fixture
async def store(stack: LocalStack, settings: Settings) -> AsyncIterator[JobStore]:
    engine = create_engine(settings.postgres_url, pool_size=1)
    yield JobStore(engine)
    await engine.dispose()


def _batch(job: str, *commands: dict[str, Any]) -> list[Record]:
    return [
        Record(job.encode(), command(job, c.pop("type"), **c), "jobs.commands", 0, offset)
        for offset, c in enumerate(commands)
    ]


async def _process(store: JobStore, cache: DictCache, batch: list[Record]) -> list[dict[str, Any]]:
    producer = RecordingProducer()
    await CommandProcessor(store, cache, producer, Topics()).process(batch)  # type: ignore[arg-type]
    return producer.sent


async def test_redelivered_duplicates_bring_the_table_back_to_postgres(store: JobStore) -> None:
    """The worker died after its commit, before the table write: the replay must refresh the table."""
    job = unique("replay")
    batch = _batch(job, {"type": "create"}, {"type": "transition", "status": "running"})
    await _process(store, DictCache(), batch)
    after_crash = DictCache()
    replayed = await _process(store, after_crash, batch)
    assert [e["event_id"] for e in replayed] == [f"{job}:1", f"{job}:2"]  # re-emitted, not re-applied
    state = after_crash.states.get(job)
    assert state is not None and (state.status.value, state.seq) == ("running", 2)


async def test_redelivered_duplicates_write_the_state_again(store: JobStore) -> None:
    """Killed after the local store took the write but before the changelog did: the replay writes again."""
    job = unique("replay")
    batch = _batch(job, {"type": "create"}, {"type": "transition", "status": "running"})
    local = DictCache()
    await _process(store, local, batch)
    local.written.clear()  # the changelog lost them; the local store (seq 2, equal to Postgres) did not
    await _process(store, local, batch)
    assert [(state.id, state.seq) for state in local.written] == [(job, 2)]


async def test_a_redelivered_rejection_is_not_applied_out_of_order(store: JobStore) -> None:
    job = unique("replay")
    batch = _batch(
        job,
        {"type": "create"},
        {"type": "transition", "status": "running", "expected_status": "pending"},  # rejected: created
        {"type": "transition", "status": "pending"},
    )
    first = await _process(store, DictCache(), batch)
    assert [e["type"] for e in first] == ["job.created", "job.command_rejected", "job.status_changed"]
    replayed = await _process(store, DictCache(), batch)
    assert [e["event_id"] for e in replayed] == [e["event_id"] for e in first]
