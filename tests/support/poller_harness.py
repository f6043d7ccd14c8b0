"""The poller's database and topic as plain lists, for poller tests that need no Kafka or Postgres."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from schemas.batch_results import BatchPollResult
from storage.queries.batches import RunningBatch
from streams.poller.cancelling import CancelLedger
from streams.poller.poller import Poller
from streams.poller.providers.base import BatchProvider
from streams.settings import PollerSettings


class Harness:
    """`find_running_batches` and `publish` as plain lists: the database and the topic."""

    def __init__(self) -> None:
        self.running: list[RunningBatch] = []
        self.published: list[BatchPollResult] = []
        self.publish_error: Exception | None = None

    async def find_running_batches(self) -> Sequence[RunningBatch]:
        return list(self.running)

    async def publish(self, message: BatchPollResult) -> None:
        if self.publish_error is not None:
            raise self.publish_error
        # What goes over the wire is JSON: make sure every message survives the round trip.
        self.published.append(BatchPollResult.model_validate_json(message.model_dump_json()))

    def add(
        self, provider_batch_id: str, batch_job_id: str | None = None, provider: str = "anthropic"
    ) -> RunningBatch:
        batch = RunningBatch(batch_job_id or f"job-{provider_batch_id[-6:]}", provider, provider_batch_id)
        self.running.append(batch)
        return batch

    def for_batch(self, batch: RunningBatch) -> list[BatchPollResult]:
        return [m for m in self.published if m.batch_job_id == batch.batch_job_id]


def make_poller(
    provider: BatchProvider | Mapping[str, BatchProvider],
    harness: Harness,
    settings: PollerSettings,
    cancels: CancelLedger | None = None,
) -> Poller:
    return Poller(provider, harness.find_running_batches, harness.publish, settings, cancels=cancels)


def items_of(messages: list[BatchPollResult]) -> list[tuple[str, str]]:
    return [(item.custom_id, item.result_type) for m in messages for item in m.items]
