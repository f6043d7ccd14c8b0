"""A large batch runs as one transaction per partition group, at once; every command gets its outcome.

Real Postgres (the e2e tests): the processor writes each group in its own transaction, on a pool with a
connection per group, as the worker's command engine has.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest

from storage.database import create_engine, raw_connection
from storage.job_store import BatchWrite, JobStore, JobTransaction
from streams.commands.partition_groups import GROUPS, SPLIT_FROM, partition_groups, process_in_groups
from streams.commands.processor import BatchResult, CommandProcessor, Record
from streams.devtools.stack.stack import LocalStack
from streams.settings import Settings, Topics
from tests.support.pipeline import command, unique
from tests.support.processing import DictCache, RecordingProducer


def _records(jobs_by_partition: dict[int, list[str]], *kinds: dict[str, Any]) -> list[Record]:
    """Each job's commands (`kinds`, in order) on its partition, the partitions' records interleaved."""
    records: list[Record] = []
    for kind in kinds:
        for partition, jobs in jobs_by_partition.items():
            for job in jobs:
                fields = dict(kind)
                value = command(job, fields.pop("type"), **fields)
                records.append(Record(job.encode(), value, "jobs.commands", partition, len(records)))
    return records


def test_groups_hold_whole_partitions_in_the_order_read() -> None:
    jobs = {partition: [f"job-{partition}-{n}" for n in range(3)] for partition in range(GROUPS + 2)}
    records = _records(jobs, {"type": "create"}, {"type": "cancel"})
    groups = partition_groups(records)
    assert len(groups) == GROUPS
    for group in groups:
        assert len({r.partition % GROUPS for r in group}) == 1
        assert [r.offset for r in group] == sorted(r.offset for r in group)
    assert sorted(r.offset for group in groups for r in group) == [r.offset for r in records]


class ConcurrencyRecordingStore(JobStore):
    """The real store, noting how many of its transactions were open at once."""

    def __init__(self, store: JobStore, fail_job: str | None = None) -> None:
        super().__init__(store.engine)
        self.open = 0
        self.most_open = 0
        self.fail_job = fail_job

    @asynccontextmanager
    async def _counted(self) -> AsyncIterator[None]:
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            yield
        finally:
            self.open -= 1

    async def _hold(self, job_ids: Iterable[str]) -> None:
        await asyncio.sleep(0.05)  # every group's write is under way before any commits
        if self.fail_job in job_ids:
            raise ValueError(f"cannot store {self.fail_job}")

    async def write_if_unchanged(self, batch: BatchWrite, seqs: Any, commands: Any) -> bool:
        async with self._counted():
            await self._hold(seqs)
            return await super().write_if_unchanged(batch, seqs, commands)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[JobTransaction]:
        async with self._counted(), super().transaction() as tx:
            original = tx.lock

            async def lock(job_ids: Any) -> Any:
                ids = list(job_ids)
                await self._hold(ids)
                return await original(ids)

            tx.lock = lock  # type: ignore[method-assign]
            yield tx


@pytest.fixture
async def pooled_store(stack: LocalStack, settings: Settings) -> AsyncIterator[JobStore]:
    engine = create_engine(settings.postgres_url, pool_size=GROUPS, max_overflow=0)
    yield JobStore(engine)
    await engine.dispose()


async def _stored(store: JobStore, jobs: Sequence[str]) -> dict[str, tuple[str, int]]:
    async with raw_connection(store.engine) as pg:
        rows = await pg.fetch("SELECT id, status, seq FROM jobs WHERE id = ANY($1::text[])", list(jobs))
    return {r["id"]: (r["status"], r["seq"]) for r in rows}


@pytest.mark.e2e
async def test_a_large_batch_commits_each_partition_group_in_its_own_concurrent_transaction(
    pooled_store: JobStore,
) -> None:
    per_partition = SPLIT_FROM // (2 * GROUPS) + 1  # two commands a job: SPLIT_FROM records or more
    jobs = {partition: [unique(f"p{partition}") for _ in range(per_partition)] for partition in range(GROUPS)}
    records = _records(jobs, {"type": "create"}, {"type": "transition", "status": "pending"})
    store = ConcurrencyRecordingStore(pooled_store)
    producer = RecordingProducer()
    processor = CommandProcessor(store, DictCache(), producer, Topics())  # type: ignore[arg-type]

    results: list[BatchResult] = await process_in_groups(processor.process, records)

    assert len(results) == GROUPS and store.most_open == GROUPS
    every_job = [job for group in jobs.values() for job in group]
    assert await _stored(pooled_store, every_job) == dict.fromkeys(every_job, ("pending", 2))
    for job in every_job:  # each job's events in its commands' order
        assert [e["seq"] for e in producer.sent if e["job_id"] == job] == [1, 2]


@pytest.mark.e2e
async def test_a_group_that_fails_fails_the_batch_only_after_the_others_finished(
    pooled_store: JobStore,
) -> None:
    """The caller retries or narrows the whole batch: no group may still be running when it does."""
    per_partition = SPLIT_FROM // GROUPS + 1
    jobs = {partition: [unique(f"p{partition}") for _ in range(per_partition)] for partition in range(GROUPS)}
    poison = jobs[1][0]
    records = _records(jobs, {"type": "create"})
    store = ConcurrencyRecordingStore(pooled_store, fail_job=poison)
    producer = RecordingProducer()
    processor = CommandProcessor(store, DictCache(), producer, Topics())  # type: ignore[arg-type]

    with pytest.raises(ValueError, match="cannot store"):
        await process_in_groups(processor.process, records)

    assert store.open == 0, "every group's transaction had ended"
    healthy = [job for partition, group in jobs.items() if partition != 1 for job in group]
    assert await _stored(pooled_store, [*healthy, *jobs[1]]) == dict.fromkeys(healthy, ("created", 1))
    assert sorted(e["job_id"] for e in producer.sent) == sorted(healthy), "the committed groups published"


async def test_a_small_batch_stays_one_transaction() -> None:
    records = _records({p: [f"job-{p}"] for p in range(GROUPS)}, {"type": "create"})
    seen: list[list[Record]] = []

    async def process(batch: Sequence[Record]) -> int:
        seen.append(list(batch))
        return len(batch)

    assert await process_in_groups(process, records) == [len(records)]
    assert seen == [records]
