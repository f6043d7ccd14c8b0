"""The command processor on the real Postgres without Kafka: a dict for the table, a list for the topic."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from schemas.job import JobState
from storage.job_store import JobStore
from streams.commands.memory_table import MemoryStateTable
from streams.commands.processor import CommandProcessor, Record
from streams.kafka.producer import OutRecord
from streams.settings import Topics
from tests.support.pipeline import command


class DictCache(MemoryStateTable):
    """The job-state table as a dict that also records what reached its changelog; a new one is a table
    that lost its writes in the crash."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[JobState] = []  # what reached the changelog, in Faust's terms
        self.tombstones: list[str] = []  # deletions sent to the changelog

    def put_many(self, items: Iterable[tuple[Any, JobState]]) -> None:
        states = [state for _, state in items]
        super().put_many((None, state) for state in states)
        self.written.extend(states)

    def delete_many(self, items: Iterable[tuple[Any, str]]) -> None:
        job_ids = [job_id for _, job_id in items]
        super().delete_many((None, job_id) for job_id in job_ids)
        self.tombstones.extend(job_ids)


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_all(self, records: Iterable[OutRecord]) -> None:
        self.sent.extend(orjson.loads(r.value) for r in records if r.value)  # not JSON: an empty dead letter


def batch_of(job: str, *commands: dict[str, Any]) -> list[Record]:
    """Records of one job's commands, in order; each dict is a command's type and fields."""
    return [
        Record(job.encode(), command(job, c.pop("type"), **c), "jobs.commands", 0, offset)
        for offset, c in enumerate(commands)
    ]


async def process(store: JobStore, cache: DictCache, batch: list[Record]) -> list[dict[str, Any]]:
    """One batch through the processor; the events it published, in order."""
    producer = RecordingProducer()
    await CommandProcessor(store, cache, producer, Topics()).process(batch)  # type: ignore[arg-type]
    return producer.sent
