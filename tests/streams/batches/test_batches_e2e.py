"""Batches end to end (docs/contract.md §8): fake provider, real poller and worker, Kafka, Postgres."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from schemas.batch_results import BatchPollResult
from streams.kafka.producer import DurableProducer, OutRecord
from tests.streams.batches.batch_scenario import (
    CHILD_STATUS,
    Batch,
    Pollers,
    applied_event_counts,
    cancel_ledger,
    cancels_sent,
    clear_faults,
    half_done_batch,
    recorded,
    resume_notices,
    status_of,
    wait_children,
    wait_polled,
    wait_status,
)
from tests.streams.batches.conftest import NewBatch
from tests.support.fake_anthropic import ITEM_RESULT_TYPES, FakeAnthropic
from tests.support.pipeline import Pipeline, unique

pytestmark = pytest.mark.e2e


@pytest.fixture
def provider_fake(fake_anthropic: FakeAnthropic) -> FakeAnthropic:
    return fake_anthropic


async def test_a_100_item_batch_completes_and_resumes_every_item(
    pipeline: Pipeline, fake_anthropic: FakeAnthropic, pollers: Pollers, new_batch: NewBatch
) -> None:
    batch = await new_batch(100, ITEM_RESULT_TYPES)
    poller = pollers.start()
    await wait_status(pipeline, batch.job_id, "running")
    await wait_polled(pipeline, fake_anthropic, batch)
    assert await status_of(pipeline, batch.job_id) == "running", "an in-progress batch must stay running"

    fake_anthropic.end_batch(batch.provider_batch_id)
    await wait_status(pipeline, batch.job_id, "completed")

    outcomes = fake_anthropic.outcomes(batch.provider_batch_id)
    assert Counter(outcomes.values()) == dict.fromkeys(ITEM_RESULT_TYPES, 25)
    expected = {batch.children[custom_id]: CHILD_STATUS[kind] for custom_id, kind in outcomes.items()}
    await wait_children(pipeline, batch, expected)
    rows = await pipeline.fetch(
        "SELECT custom_id, job_id, result_status, result FROM batch_items WHERE batch_id = $1", batch.job_id
    )
    assert len(rows) == 100
    assert {r["custom_id"]: (r["job_id"], r["result_status"]) for r in rows} == {
        custom_id: (batch.children[custom_id], kind) for custom_id, kind in outcomes.items()
    }
    assert all(orjson.loads(r["result"])["type"] == r["result_status"] for r in rows)

    notices = [(m.key.decode(), orjson.loads(m.value)) for m in await resume_notices(pipeline, batch, 100)]
    assert len(notices) == 100, "exactly one notice per item"
    by_job = {key: notice for key, notice in notices}
    assert set(by_job) == set(batch.children.values()) and len({n["notice_id"] for _, n in notices}) == 100
    for custom_id, child in batch.children.items():
        assert by_job[child] == {
            "notice_id": f"resume:{batch.job_id}:{custom_id}",
            "job_id": child,
            "agent_id": batch.agents[child],
            "batch_id": batch.job_id,
            "custom_id": custom_id,
            "result_status": outcomes[custom_id],
        }
    await _assert_each_change_applied_once(pipeline, batch.job_id, list(batch.children.values()), "completed")
    poller.stop()
    assert poller.proc is not None and poller.proc.returncode == 0, "SIGTERM should end the poller cleanly"


async def test_a_restarted_poller_duplicates_nothing(
    pipeline: Pipeline, fake_anthropic: FakeAnthropic, pollers: Pollers, new_batch: NewBatch
) -> None:
    # 40 kB per succeeded result: the first poll message fills up after ~48 items (12 succeeded).
    batch = await new_batch(100, ITEM_RESULT_TYPES, text_padding=40_000)
    first = pollers.start()
    await wait_status(pipeline, batch.job_id, "running")
    first.kill()  # mid-batch, while the provider is still processing

    # Results streams cut after 90 lines: the next poller publishes one message of results, repeatedly.
    fake_anthropic.break_results_next(1000, after_lines=90)
    fake_anthropic.end_batch(batch.provider_batch_id)
    second = pollers.start()

    async def partly_recorded() -> bool:
        return await recorded(pipeline, batch) >= 40

    await pipeline.wait_for(partly_recorded, 60, "partial results")
    second.kill()
    assert await recorded(pipeline, batch) < 100
    assert await status_of(pipeline, batch.job_id) == "running", "partial results must not conclude a batch"

    clear_faults(fake_anthropic, batch)
    pollers.start()
    await wait_status(pipeline, batch.job_id, "completed")
    outcomes = fake_anthropic.outcomes(batch.provider_batch_id)
    await wait_children(pipeline, batch, {batch.children[c]: CHILD_STATUS[k] for c, k in outcomes.items()})
    count = await pipeline.fetch("SELECT count(*) AS n FROM batch_items WHERE batch_id = $1", batch.job_id)
    assert count[0]["n"] == 100
    notices = await resume_notices(pipeline, batch, 100)
    assert len(notices) == 100
    await _assert_each_change_applied_once(pipeline, batch.job_id, list(batch.children.values()), "completed")


async def test_provider_errors_are_retried_and_never_fail_the_batch(
    pipeline: Pipeline, fake_anthropic: FakeAnthropic, pollers: Pollers, new_batch: NewBatch
) -> None:
    batch = await new_batch(10, ITEM_RESULT_TYPES)
    # More failures than one round's attempts: the first rounds give up, later ones get through.
    only = batch.provider_batch_id  # faults for this batch only, whatever else is running
    fake_anthropic.fail_next(4, status=503, path_contains=only)
    fake_anthropic.hang_next(2, seconds=3, path_contains=only)  # past the poller's 1 s timeout
    fake_anthropic.fail_next(2, status=529, path_contains=only)
    pollers.start()
    await wait_status(pipeline, batch.job_id, "running")

    fake_anthropic.fail_next(3, status=500, path_contains=f"{only}/results")
    fake_anthropic.hang_next(1, seconds=3, path_contains=f"{only}/results")
    fake_anthropic.end_batch(batch.provider_batch_id)
    await wait_status(pipeline, batch.job_id, "completed")

    outcomes = fake_anthropic.outcomes(batch.provider_batch_id)
    await wait_children(pipeline, batch, {batch.children[c]: CHILD_STATUS[k] for c, k in outcomes.items()})
    log = pollers.log_text()
    assert "batches.poll_deferred" in log, "the errors were not even seen"
    assert "timed out" in log, "the hang did not time out"
    await _assert_each_change_applied_once(pipeline, batch.job_id, list(batch.children.values()), "completed")


async def test_a_canceled_batch_ends_cancelled(
    pipeline: Pipeline, fake_anthropic: FakeAnthropic, pollers: Pollers, new_batch: NewBatch
) -> None:
    batch = await new_batch(20)
    pollers.start()
    await wait_status(pipeline, batch.job_id, "running")
    fake_anthropic.cancel_batch(batch.provider_batch_id, finished=5)
    await wait_polled(pipeline, fake_anthropic, batch)
    assert await status_of(pipeline, batch.job_id) == "running", "canceling is still in progress"
    fake_anthropic.end_batch(batch.provider_batch_id)

    await wait_status(pipeline, batch.job_id, "cancelled")
    row = await pipeline.job_row(batch.job_id)
    assert row is not None and row["stop_reason"] == "cancelled"
    custom_ids = list(batch.children)
    expected = {batch.children[c]: "completed" if n < 5 else "cancelled" for n, c in enumerate(custom_ids)}
    await wait_children(pipeline, batch, expected)
    notices = await resume_notices(pipeline, batch, 5)
    finished = {batch.children[c] for c in custom_ids[:5]}
    assert {m.key.decode() for m in notices} == finished and len(notices) == 5, "only finished items resume"
    await _assert_each_change_applied_once(pipeline, batch.job_id, list(batch.children.values()), "cancelled")
    assert cancels_sent(fake_anthropic, batch) == 0, "the provider cancelled it: nothing to send"


async def test_a_batch_cancelled_mid_flight_is_cancelled_at_the_provider_once(
    pipeline: Pipeline, fake_anthropic: FakeAnthropic, pollers: Pollers, new_batch: NewBatch
) -> None:
    batch = await new_batch(20, ("succeeded", "errored"))
    await half_done_batch(pipeline, batch, fake_anthropic, pollers, poller_count=3, finished=6)  # one cancel
    fake_anthropic.fail_next(2, status=503, path_contains=f"{batch.provider_batch_id}/cancel")  # an outage

    await pipeline.client.cancel(batch.job_id)
    await wait_status(pipeline, batch.job_id, "cancelled")

    async def told() -> bool:
        return fake_anthropic.status(batch.provider_batch_id) == "canceling"

    await pipeline.wait_for(told, 30, "the provider to be told")
    await wait_polled(pipeline, fake_anthropic, batch)  # still followed while the provider is canceling
    fake_anthropic.end_batch(batch.provider_batch_id)

    outcomes = fake_anthropic.outcomes(batch.provider_batch_id)
    expected = {batch.children[c]: CHILD_STATUS[kind] for c, kind in outcomes.items()}
    assert Counter(expected.values()) == {"cancelled": 14, "completed": 3, "failed": 3}
    await wait_children(pipeline, batch, expected)

    ledger = await cancel_ledger(pipeline, batch)
    assert (ledger["outcome"], ledger["provider_batch_id"]) == ("acknowledged", batch.provider_batch_id)
    assert cancels_sent(fake_anthropic, batch) == 3, "two answered 503, the third was taken, none after"

    notices = [orjson.loads(m.value) for m in await resume_notices(pipeline, batch, 6)]
    done = {c: kind for c, kind in outcomes.items() if kind != "canceled"}
    assert {n["custom_id"]: n["result_status"] for n in notices} == done and len(notices) == 6
    row = await pipeline.job_row(batch.job_id)
    assert row is not None and row["status"] == "cancelled", "late results never move it out of cancelled"
    applied = await applied_event_counts(pipeline, [batch.job_id])
    assert applied[batch.job_id] == ["job.created", "job.status_changed", "job.status_changed"]


async def test_a_batch_cancelled_after_the_provider_ended_keeps_every_result(
    pipeline: Pipeline, fake_anthropic: FakeAnthropic, new_batch: NewBatch, pollers: Pollers
) -> None:
    batch = await new_batch(8, ("succeeded", "errored"))
    fake_anthropic.end_batch(batch.provider_batch_id)  # ended before any poller saw it
    await pipeline.client.cancel(batch.job_id)
    await wait_status(pipeline, batch.job_id, "cancelled")
    pollers.start()

    outcomes = fake_anthropic.outcomes(batch.provider_batch_id)
    await wait_children(pipeline, batch, {batch.children[c]: CHILD_STATUS[k] for c, k in outcomes.items()})
    notices = await resume_notices(pipeline, batch, 8)
    assert len(notices) == 8
    (ledger,) = await pipeline.fetch("SELECT outcome FROM batch_cancels WHERE batch_id = $1", batch.job_id)
    assert ledger["outcome"] == "already_ended" and cancels_sent(fake_anthropic, batch) == 0
    assert await status_of(pipeline, batch.job_id) == "cancelled"


async def _assert_each_change_applied_once(
    pipeline: Pipeline, batch_job_id: str, children: list[str], end: str
) -> None:
    applied = await applied_event_counts(pipeline, [batch_job_id, *children])
    assert applied[batch_job_id] == ["job.created", "job.status_changed", "job.status_changed"]
    rows = await pipeline.fetch(
        "SELECT command_id FROM job_events WHERE job_id = $1 ORDER BY seq", batch_job_id
    )
    assert [r["command_id"] for r in rows][1:] == [
        f"batch-running:{batch_job_id}",
        f"batch-end:{batch_job_id}:{end}",
    ]
    twice = {job: types for job, types in applied.items() if job in children and len(types) != 2}
    assert not twice, f"children with other than created + one terminal change: {twice}"


async def test_malformed_or_unknown_results_are_dead_lettered(pipeline: Pipeline) -> None:
    topics = pipeline.settings.topics
    marker = unique("dl")
    unknown = _poll_result(f"{marker}-unknown")
    records = [
        OutRecord(topics.batch_results, marker.encode(), b"not json"),
        OutRecord(topics.batch_results, marker.encode(), orjson.dumps({"batch_job_id": marker})),
        OutRecord(topics.batch_results, f"{marker}-unknown".encode(), unknown),
    ]
    async with DurableProducer(pipeline.settings.bootstrap_servers) as producer:
        await producer.send_all(records)

    def ours(message: Any) -> bool:
        return bool(message.key and message.key.decode().startswith(marker))

    found = await pipeline.read_topic(topics.deadletter, ours, 3, timeout_s=60)
    by_code = {dict(m.headers)["error.code"].decode(): m for m in found}
    assert set(by_code) == {"invalid_json", "invalid_poll_result", "batch_not_found"}
    dead = by_code["batch_not_found"]
    assert dead.value == unknown, "a dead letter keeps the original bytes"
    headers = dict(dead.headers)
    assert headers["source.topic"] == topics.batch_results.encode()
    assert {"error.message", "source.partition", "source.offset"} <= set(headers)


def _poll_result(batch_job_id: str) -> bytes:
    message = BatchPollResult(
        result_id="r",
        batch_job_id=batch_job_id,
        provider="anthropic",
        provider_batch_id="msgbatch_none",
        provider_status="in_progress",
        ended=False,
        cancelled=False,
        polled_at=datetime.now(UTC),
    )
    return message.model_dump_json().encode()


async def test_an_item_the_provider_never_answers_fails_and_the_batch_still_completes(
    pipeline: Pipeline, fake_anthropic: FakeAnthropic, pollers: Pollers
) -> None:
    children = {f"req-{n:03d}": unique("item") for n in range(5)}
    lost = "req-004"
    provider_batch_id = fake_anthropic.create_batch([c for c in children if c != lost])
    job_id = unique("batch")
    for child in children.values():
        await pipeline.client.create(child, job_type="run", batch_id=job_id)
    await pipeline.client.create(
        job_id,
        job_type="batch",
        provider="anthropic",
        provider_batch_id=provider_batch_id,
        items=[{"custom_id": custom_id, "job_id": child} for custom_id, child in children.items()],
    )
    batch = Batch(job_id, children, provider_batch_id, {}, 0)
    pollers.start()
    await wait_status(pipeline, job_id, "running")
    fake_anthropic.end_batch(provider_batch_id)
    await wait_status(pipeline, job_id, "completed")
    expected = {child: "completed" for child in children.values()} | {children[lost]: "failed"}
    await wait_children(pipeline, batch, expected)
    row = await pipeline.job_row(children[lost])
    assert row is not None and row["stop_reason"] == "provider_error"
    (item,) = await pipeline.fetch(
        "SELECT result_status, result FROM batch_items WHERE batch_id = $1 AND custom_id = $2", job_id, lost
    )
    assert item["result_status"] == "errored" and "missing_result" in item["result"]
