"""The job-state table across kill -9: what a worker wrote is what the next worker's recovered table holds.

The fault scenarios check the changelog against Postgres; this reads the workers' own RocksDB stores: the
killed worker's persisted offsets (each value up to them is in its store), a fresh worker's table recovered
from the whole changelog, and the killed worker's store again after it restarts and recovers from its
persisted offsets the states another worker wrote meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
import rocksdict

from schemas.job import JobState
from streams.devtools.stack.stack import LocalStack
from streams.settings import Settings
from tests.support.pipeline import Pipeline, base_env, command, unique

pytestmark = pytest.mark.e2e

JOBS = 40
OFFSET_KEY = b"__faust\0offset__"  # faust/stores/rocksdb.py Store.offset_key


@dataclass
class Store:
    """One worker's local table, read after the worker is gone: values and persisted offset per partition."""

    values: dict[int, dict[bytes, bytes]]
    offsets: dict[int, int | None]

    def state(self, job_id: str) -> JobState | None:
        for values in self.values.values():
            if job_id.encode() in values:
                return JobState.from_bytes(values[job_id.encode()])
        return None


def read_store(pipe: Pipeline, worker: str) -> Store:
    settings = Settings.from_env({**pipe.env, "JOBSTREAM_WORKER_NAME": f"{pipe.namespace}-{worker}"})
    tables = settings.worker_state_dir / "v1" / "tables"  # Faust's tabledir: <datadir>/v<version>/tables
    store = Store({}, {})
    for partition in range(settings.partitions):
        path = tables / f"job-state-{partition}.db"
        if not path.exists():
            continue
        db = rocksdict.Rdict(
            str(path), options=rocksdict.Options(raw_mode=True), access_type=rocksdict.AccessType.read_only()
        )
        try:
            raw = db.get(OFFSET_KEY)
            store.offsets[partition] = int(raw) if raw is not None else None
            items = cast(Iterable[tuple[bytes, bytes]], db.items())  # raw mode: bytes in, bytes out
            store.values[partition] = {bytes(k): bytes(v) for k, v in items if k != OFFSET_KEY}
        finally:
            db.close()
    return store


@pytest.fixture
async def pipe(stack: LocalStack, logs_dir: Path) -> AsyncIterator[Pipeline]:
    pipe = Pipeline(base_env(), logs_dir)
    yield pipe
    await pipe.close()


async def _agree_with_postgres(pipe: Pipeline, store: Store, jobs: list[str], status: str, seq: int) -> None:
    rows = {r["id"]: r for r in await pipe.fetch("SELECT id, status, seq FROM jobs WHERE id = ANY($1)", jobs)}
    for job in jobs:
        state = store.state(job)
        assert state is not None, f"{job} missing from the recovered table"
        assert (state.status.value, state.seq) == (rows[job]["status"], rows[job]["seq"]) == (status, seq)


async def test_tables_recovered_after_kill9_hold_the_states_written(pipe: Pipeline) -> None:
    first = pipe.start_worker("w0")
    await pipe.wait_ready()
    jobs = [unique("recover") for _ in range(JOBS)]
    for job in jobs:
        await pipe.send_raw(job.encode(), command(job, "create"))
        await pipe.send_raw(job.encode(), command(job, "transition", status="running"))
    await pipe.events_many({job: 2 for job in jobs})
    await asyncio.sleep(1)  # the batch's changelog acks (and its persisted offsets) follow its events
    first.kill()

    # (a) on a real crash: every changelog value up to the persisted offset is in the killed worker's store.
    killed = read_store(pipe, "w0")
    changelog = f"{pipe.settings.app_id}-job-state-changelog"
    records = await pipe.read_topic(changelog, lambda m: True, 1)
    assert {m.partition for m in records} <= {p for p, offset in killed.offsets.items() if offset is not None}
    for partition, offset in killed.offsets.items():
        written = [m for m in records if m.partition == partition]
        assert offset == max((m.offset for m in written), default=None)  # every ack recorded, the highest
        upto = {m.key: m.value for m in written if offset is not None and m.offset <= offset}
        assert {key: killed.values[partition].get(key) for key in upto} == upto
    await _agree_with_postgres(pipe, killed, jobs, "running", 2)

    # A worker with no local state takes over: its table is the changelog, recovered from the start.
    second = pipe.start_worker("w1")
    await pipe.wait_ready(timeout_s=120)
    for job in jobs:
        await pipe.send_raw(job.encode(), command(job, "transition", status="completed"))
    await pipe.events_many({job: 3 for job in jobs})
    second.stop()
    await _agree_with_postgres(pipe, read_store(pipe, "w1"), jobs, "completed", 3)

    # The killed worker returns with its own store: it recovers from its persisted offsets onward, which
    # must bring in what w1 wrote (a persisted offset past its own writes would skip those).
    again = pipe.start_worker("w0")
    await pipe.wait_ready(timeout_s=120)
    again.stop()
    await _agree_with_postgres(pipe, read_store(pipe, "w0"), jobs, "completed", 3)
