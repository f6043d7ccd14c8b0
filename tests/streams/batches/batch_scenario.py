"""A batch on the fake provider and in jobstream at once, plus the real poller processes driving it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from streams.devtools.service_process import ServiceProcess
from tests.support.fake_anthropic import FakeAnthropic, ItemResultType
from tests.support.fake_server import FakeProviderServer
from tests.support.pipeline import Pipeline, unique

# Rounds every 0.3 s, and one HTTP call may take 1 s before it counts as a timeout.
POLLER_ENV = {
    "JOBSTREAM_POLL_INTERVAL_S": "0.3",
    "JOBSTREAM_POLL_CONCURRENCY": "4",
    "JOBSTREAM_POLL_TIMEOUT_S": "1",
}
CHILD_STATUS: dict[str, str] = {
    "succeeded": "completed",
    "errored": "failed",
    "canceled": "cancelled",
    "expired": "expired",
}


@dataclass
class Batch:
    """One batch job, its child jobs by custom_id, and the provider's id for it."""

    job_id: str
    children: dict[str, str]  # custom_id -> child job id
    provider_batch_id: str
    agents: dict[str, str]  # child job id -> agent id
    text_padding: int


async def create_batch(
    pipeline: Pipeline,
    fake: Any,
    size: int,
    result_types: Sequence[ItemResultType] = ("succeeded",),
    text_padding: int = 200,
    **batch_fields: Any,
) -> Batch:
    """The children first (with batch_id), then the batch job with its items, as a producer would.

    `fake` is a provider fake (FakeAnthropic, FakeOpenAI): the batch job names its provider.
    `text_padding` (bytes per succeeded result) decides how many items share one poll message.
    """
    job_id = unique("batch")
    children = {f"req-{n:03d}": unique("item") for n in range(size)}
    agents = {child: f"agent-{n % 7}" for n, child in enumerate(children.values())}
    provider_batch_id = fake.create_batch(
        list(children), result_types=result_types, text_padding=text_padding
    )
    for child in children.values():
        await pipeline.client.create(child, job_type="run", agent_id=agents[child], batch_id=job_id)
    await pipeline.client.create(
        job_id,
        job_type="batch",
        provider=fake.provider,
        provider_batch_id=provider_batch_id,
        items=[{"custom_id": custom_id, "job_id": child} for custom_id, child in children.items()],
        **batch_fields,
    )
    return Batch(job_id, children, provider_batch_id, agents, text_padding)


class Pollers:
    """`jobstream poller` processes aimed at the provider fakes, on the pipeline's topics."""

    def __init__(self, pipeline: Pipeline, fakes: Sequence[FakeProviderServer], logs: Path) -> None:
        provider_env = {name: value for fake in fakes for name, value in fake.env().items()}
        self.env = {**pipeline.env, **POLLER_ENV, **provider_env}
        self.logs = logs
        self.prefix = pipeline.namespace
        self.started: list[ServiceProcess] = []

    def start(self) -> ServiceProcess:
        name = f"{self.prefix}-poller-{unique('p')}.log"
        process = ServiceProcess(["poller"], self.env, self.logs / name)
        process.start()
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            process.stop(timeout_s=20)

    def log_text(self) -> str:
        return "".join(p.log_path.read_text() for p in self.started if p.log_path.exists())


async def status_of(pipeline: Pipeline, job_id: str) -> str | None:
    row = await pipeline.job_row(job_id)
    return row["status"] if row is not None else None


async def wait_status(pipeline: Pipeline, job_id: str, status: str, timeout_s: float = 60) -> None:
    async def reached() -> bool:
        return await status_of(pipeline, job_id) == status

    await pipeline.wait_for(reached, timeout_s, f"{job_id} to be {status}")


async def child_statuses(pipeline: Pipeline, batch: Batch) -> dict[str, str]:
    rows = await pipeline.fetch(
        "SELECT id, status FROM jobs WHERE id = ANY($1::text[])", list(batch.children.values())
    )
    return {row["id"]: row["status"] for row in rows}


async def wait_children(
    pipeline: Pipeline, batch: Batch, expected: dict[str, str], timeout_s: float = 60
) -> None:
    async def reached() -> bool:
        return await child_statuses(pipeline, batch) == expected

    await pipeline.wait_for(
        reached, timeout_s, f"children of {batch.job_id} to reach {Counter(expected.values())}"
    )


async def applied_event_counts(pipeline: Pipeline, job_ids: Sequence[str]) -> dict[str, list[str]]:
    """Each job's applied events (by type, in seq order): a duplicate command would add none."""
    rows = await pipeline.fetch(
        "SELECT job_id, type FROM job_events WHERE job_id = ANY($1::text[]) ORDER BY job_id, seq",
        list(job_ids),
    )
    found: dict[str, list[str]] = {job_id: [] for job_id in job_ids}
    for row in rows:
        found[row["job_id"]].append(row["type"])
    return found


async def resume_notices(pipeline: Pipeline, batch: Batch, count: int, settle_s: float = 3.0) -> list[Any]:
    """The resume topic read with a plain consumer; waits for `count`, then `settle_s` for extras."""

    def ours(message: Any) -> bool:
        return bool(orjson.loads(message.value).get("batch_id") == batch.job_id)

    return await pipeline.read_topic(pipeline.settings.topics.resume, ours, count, 60, settle_s)


async def wait_polled(pipeline: Pipeline, fake: FakeProviderServer, batch: Batch) -> None:
    """Until the provider has been asked about the batch at least once more from now."""

    def asked() -> int:
        return sum(1 for r in fake.requests if r.path.endswith(batch.provider_batch_id))

    before = asked()

    async def again() -> bool:
        return asked() > before

    await pipeline.wait_for(again, 10, f"another poll of {batch.provider_batch_id}")


def clear_faults(fake: FakeAnthropic, batch: Batch) -> None:
    """The public way to drop queued faults: reset, then recreate the same batch, already ended."""
    outcomes = fake.outcomes(batch.provider_batch_id)
    fake.reset()
    fake.create_batch(
        list(outcomes),
        result_types=list(outcomes.values()),
        batch_id=batch.provider_batch_id,
        text_padding=batch.text_padding,
    )
    fake.end_batch(batch.provider_batch_id)


async def recorded(pipeline: Pipeline, batch: Batch) -> int:
    """Items with a provider result in Postgres."""
    rows = await pipeline.fetch(
        "SELECT count(*) AS n FROM batch_items WHERE batch_id = $1 AND result_status IS NOT NULL",
        batch.job_id,
    )
    return int(rows[0]["n"])


async def half_done_batch(
    pipeline: Pipeline, batch: Batch, fake: Any, pollers: Pollers, poller_count: int, finished: int
) -> Batch:
    """`batch` running under `poller_count` pollers, its first `finished` items done at the provider."""
    for _ in range(poller_count):
        pollers.start()
    await wait_status(pipeline, batch.job_id, "running")
    fake.finish_items(batch.provider_batch_id, finished)
    return batch


def cancels_sent(fake: FakeProviderServer, batch: Batch) -> int:
    """Cancel requests the provider received for the batch (Anthropic's and OpenAI's paths end alike)."""
    suffix = f"/batches/{batch.provider_batch_id}/cancel"
    return sum(1 for r in fake.requests if r.method == "POST" and r.path.endswith(suffix))


async def cancel_ledger(pipeline: Pipeline, batch: Batch, finished: bool = True) -> Any:
    """The batch's `batch_cancels` row once it exists (and, by default, is finished)."""

    async def row() -> Any:
        rows = await pipeline.fetch("SELECT * FROM batch_cancels WHERE batch_id = $1", batch.job_id)
        return rows[0] if rows and (not finished or rows[0]["finished_at"] is not None) else None

    return await pipeline.wait_for(row, 30, f"the cancel of {batch.job_id}")


async def cancel_unfinished(pipeline: Pipeline, batches: Sequence[Batch]) -> None:
    """Leave no batch running in the shared Postgres, or every later poller would keep asking about it."""
    for batch in batches:
        if await status_of(pipeline, batch.job_id) in ("created", "pending", "running"):
            await pipeline.client.cancel(batch.job_id, command_id=f"test-cleanup:{batch.job_id}")
