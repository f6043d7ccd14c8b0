"""A record that fails on every attempt is narrowed down and settled; the rest of its batch goes on.

Real Postgres; the failure is injected into the store's write for one job, standing in for any input a
bug or a storage limit makes fail the same way every time.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiokafka.errors import MessageSizeTooLargeError

from storage.database import create_engine, raw_connection
from storage.job_store import BatchWrite, JobStore, JobTransaction
from streams.commands.processor import CommandProcessor, Record
from streams.devtools.stack.stack import LocalStack
from streams.kafka.producer import OutRecord
from streams.kafka.settlement import Settlement, dead_letter_last_resort, settle
from streams.settings import Settings, Topics
from tests.support.pipeline import command, unique
from tests.support.processing import DictCache, RecordingProducer

pytestmark = pytest.mark.e2e


class PoisonedStore(JobStore):
    """The real store, except that any batch writing one chosen job fails as a bug would."""

    def __init__(self, store: JobStore, poisoned_job: str, rejections_too: bool = False) -> None:
        super().__init__(store.engine)
        self.poisoned_job = poisoned_job
        self.rejections_too = rejections_too
        self.attempts = 0

    def _poison(self, batch: BatchWrite) -> None:
        self.attempts += 1
        if any(state.id == self.poisoned_job for state in batch.created) or (
            self.rejections_too and any(self.poisoned_job.encode() in r for r in batch.rejections)
        ):
            raise ValueError(f"cannot store {self.poisoned_job}")

    async def write_if_unchanged(self, batch: BatchWrite, *args: Any) -> bool:
        self._poison(batch)
        return await super().write_if_unchanged(batch, *args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[JobTransaction]:
        async with super().transaction() as tx:
            original = tx.write

            async def write(batch: BatchWrite) -> None:
                self._poison(batch)
                await original(batch)

            tx.write = write  # type: ignore[method-assign]
            yield tx


@pytest.fixture
async def store(stack: LocalStack, settings: Settings) -> AsyncIterator[JobStore]:
    engine = create_engine(settings.postgres_url, pool_size=2)
    yield JobStore(engine)
    await engine.dispose()


def _events(records: list[Record]) -> list[Any]:
    return [SimpleNamespace(message=record) for record in records]


async def _settle(
    processor: CommandProcessor, records: list[Record], producer: RecordingProducer | None = None
) -> None:
    async def handle(events: Any) -> None:
        await processor.process([event.message for event in events])

    async def give_up(event: Any, error: Exception) -> None:
        await processor.give_up(event.message, error)

    runtime = SimpleNamespace(producer=producer or processor.producer)
    last_resort = dead_letter_last_resort(runtime, "jobs.deadletter")  # type: ignore[arg-type]
    await settle(_events(records), Settlement(handle, give_up, last_resort), "test")


async def test_one_failing_record_is_rejected_and_the_rest_apply(store: JobStore) -> None:
    good = [unique("good") for _ in range(7)]
    poison = unique("poison")
    jobs = [*good[:3], poison, *good[3:]]
    records = [Record(j.encode(), command(j, "create"), "jobs.commands", 0, n) for n, j in enumerate(jobs)]
    poisoned = PoisonedStore(store, poison)
    producer = RecordingProducer()
    processor = CommandProcessor(poisoned, DictCache(), producer, Topics())  # type: ignore[arg-type]

    await _settle(processor, records)

    async with raw_connection(store.engine) as pg:
        rows = await pg.fetch("SELECT id, seq FROM jobs WHERE id = ANY($1::text[])", jobs)
        rejection = await pg.fetchrow("SELECT payload::text FROM job_rejections WHERE job_id = $1", poison)
    assert sorted((r["id"], r["seq"]) for r in rows) == sorted((j, 1) for j in good)
    assert rejection is not None
    stored = orjson.loads(rejection["payload"])
    assert stored["reason"]["code"] == "internal_error" and "cannot store" in stored["reason"]["message"]
    outcomes = {e["job_id"]: e["type"] for e in producer.sent}
    assert outcomes == {**dict.fromkeys(good, "job.created"), poison: "job.command_rejected"}
    assert poisoned.attempts < 2 * len(records), "narrowed by bisection, not one attempt per subset"

    # Redelivered (a crash before the ack): the same outcome, not a new decision.
    again = RecordingProducer()
    replay = CommandProcessor(poisoned, DictCache(), again, Topics())  # type: ignore[arg-type]
    await _settle(replay, records)
    assert [e for e in again.sent if e["job_id"] == poison] == [stored]


class SizeLimitedProducer(RecordingProducer):
    """Kafka refusing records over `limit` bytes, as a broker refuses an oversized message."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.records: list[OutRecord] = []

    async def send_all(self, records: Iterable[OutRecord]) -> None:
        batch = list(records)
        if any(len(r.value or b"") > self.limit for r in batch):
            raise MessageSizeTooLargeError()
        self.records.extend(batch)
        await super().send_all(batch)


async def test_a_record_whose_outcome_cannot_be_stored_is_dead_lettered(store: JobStore) -> None:
    poison = unique("unstorable")
    records = [Record(poison.encode(), command(poison, "create"), "jobs.commands", 0, 7)]
    producer = SizeLimitedProducer(limit=1 << 20)
    processor = CommandProcessor(
        PoisonedStore(store, poison, rejections_too=True), DictCache(), producer, Topics()
    )  # type: ignore[arg-type]
    await _settle(processor, records)
    [dead] = [r for r in producer.records if r.topic == "jobs.deadletter"]
    headers = dict(dead.headers)
    assert headers["error.code"] == b"internal_error" and b"cannot store" in headers["error.message"]
    assert dead.value == records[0].value, "the dead letter carries the record unchanged"
    async with raw_connection(store.engine) as pg:
        assert await pg.fetchval("SELECT count(*) FROM job_rejections WHERE job_id = $1", poison) == 0


async def test_a_dead_letter_kafka_refuses_goes_without_the_record(store: JobStore) -> None:
    """A compressed record can arrive larger than any message the broker takes back: its dead letter
    then carries the size and hash of its key and value instead of them, and the partition goes on."""
    job = unique("huge")
    huge = b"x" * 300_000
    records = [Record(job.encode(), huge, "jobs.commands", 0, 9)]  # not JSON: dead-lettered invalid_json
    producer = SizeLimitedProducer(limit=200_000)
    processor = CommandProcessor(store, DictCache(), producer, Topics())  # type: ignore[arg-type]
    await _settle(processor, records)
    [dead] = producer.records
    headers = dict(dead.headers)
    assert dead.key is None and dead.value == b"", "Kafka takes no record without key and value"
    assert headers["error.code"] == b"internal_error" and headers["source.value.size"] == b"300000"
    assert headers["source.value.sha256"] == hashlib.sha256(huge).hexdigest().encode()
    assert headers["source.offset"] == b"9"
