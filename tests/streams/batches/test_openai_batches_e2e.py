"""OpenAI batches end to end (docs/contract.md §8): its fake, real pollers and worker, Kafka, Postgres."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from tests.streams.batches import batch_scenario as scenario
from tests.streams.batches.batch_scenario import Batch, Pollers
from tests.streams.batches.conftest import NewBatch
from tests.streams.cli.runner import jobstream
from tests.support.fake_openai import FakeOpenAI
from tests.support.pipeline import Pipeline

pytestmark = pytest.mark.e2e

# The poller's vocabulary -> the child job's status (contract §8).
CHILD_STATUS = {"succeeded": "completed", "errored": "failed", "canceled": "cancelled", "expired": "expired"}


@pytest.fixture
def provider_fake(fake_openai: FakeOpenAI) -> FakeOpenAI:
    return fake_openai


def expected_children(fake: FakeOpenAI, batch: Batch) -> dict[str, str]:
    outcomes = fake.outcomes(batch.provider_batch_id)
    return {batch.children[custom_id]: CHILD_STATUS[kind] for custom_id, kind in outcomes.items()}


async def test_a_100_item_batch_with_mixed_results_survives_faults_and_a_killed_poller(
    pipeline: Pipeline, fake_openai: FakeOpenAI, pollers: Pollers, new_batch: NewBatch
) -> None:
    batch = await new_batch(100, ("succeeded", "errored", "succeeded", "succeeded"), text_padding=20_000)
    first = pollers.start()
    await scenario.wait_status(pipeline, batch.job_id, "running")
    first.kill()  # mid-batch, while the provider is still processing
    fake_openai.finalize(batch.provider_batch_id)

    only = batch.provider_batch_id
    fake_openai.fail_next(4, status=503, path_contains=only)
    fake_openai.hang_next(1, seconds=3, path_contains=only)  # past the poller's 1 s timeout
    fake_openai.end_batch(batch.provider_batch_id)
    fake_openai.fail_next(2, status=500, path_contains="/content")
    fake_openai.break_results_next(2, after_lines=30)  # the output file cut mid-way, twice
    pollers.start()
    await scenario.wait_status(pipeline, batch.job_id, "completed")

    expected = expected_children(fake_openai, batch)
    assert Counter(expected.values()) == {"completed": 75, "failed": 25}
    await scenario.wait_children(pipeline, batch, expected)
    assert await scenario.recorded(pipeline, batch) == 100
    (state,) = await pipeline.fetch("SELECT * FROM batch_provider_states WHERE batch_id = $1", batch.job_id)
    assert (state["provider_status"], state["outcome"]) == ("ended", "completed")
    counts = orjson.loads(state["request_counts"])
    assert (counts["succeeded"], counts["errored"], counts["processing"]) == (75, 25, 0), "OpenAI's counts"
    rows = await pipeline.fetch("SELECT custom_id, result FROM batch_items WHERE batch_id = $1", batch.job_id)
    results = {r["custom_id"]: orjson.loads(r["result"]) for r in rows}
    assert results["req-000"]["response"]["body"]["object"] == "chat.completion"
    assert results["req-001"]["response"]["status_code"] == 400
    notices = await scenario.resume_notices(pipeline, batch, 100)
    assert len({orjson.loads(m.value)["notice_id"] for m in notices}) == 100 == len(notices)
    applied = await scenario.applied_event_counts(pipeline, [batch.job_id, *batch.children.values()])
    assert applied[batch.job_id] == ["job.created", "job.status_changed", "job.status_changed"]
    assert all(len(types) == 2 for job, types in applied.items() if job != batch.job_id)
    log = pollers.log_text()
    assert "batches.poll_deferred" in log or "batches.provider_retry" in log, "the faults were not even seen"


async def test_a_batch_cancelled_mid_flight_is_cancelled_at_openai_once(
    pipeline: Pipeline, fake_openai: FakeOpenAI, pollers: Pollers, new_batch: NewBatch
) -> None:
    batch = await new_batch(20, ("succeeded", "errored"))
    # Two pollers (still one cancel), six items done when the cancel comes, and its answer lost.
    await scenario.half_done_batch(pipeline, batch, fake_openai, pollers, poller_count=2, finished=6)
    fake_openai.lose_cancel_response_next(1, seconds=3)

    cancelled = await jobstream(
        "send", "cancel", batch.job_id, "--wait", env=pipeline.env
    )  # the CLI's cancel
    assert cancelled.code == 0, cancelled.stderr
    assert await scenario.status_of(pipeline, batch.job_id) == "cancelled"

    async def told() -> bool:
        return fake_openai.status(batch.provider_batch_id) == "cancelling"

    await pipeline.wait_for(told, 30, "OpenAI to be told")
    await scenario.wait_polled(pipeline, fake_openai, batch)  # still followed while OpenAI is cancelling
    fake_openai.end_batch(batch.provider_batch_id)

    expected = expected_children(fake_openai, batch)
    assert Counter(expected.values()) == {"cancelled": 14, "completed": 3, "failed": 3}
    await scenario.wait_children(pipeline, batch, expected)
    ledger = await scenario.cancel_ledger(pipeline, batch)
    assert ledger["outcome"] == "acknowledged" and ledger["provider"] == "openai"
    assert scenario.cancels_sent(fake_openai, batch) == 1, (
        "the lost answer was found on record, not sent again"
    )
    notices = [orjson.loads(m.value) for m in await scenario.resume_notices(pipeline, batch, 6)]
    finished = {c: k for c, k in fake_openai.outcomes(batch.provider_batch_id).items() if k != "canceled"}
    assert {n["custom_id"]: n["result_status"] for n in notices} == finished and len(notices) == 6
    assert await scenario.status_of(pipeline, batch.job_id) == "cancelled"
    applied = await scenario.applied_event_counts(pipeline, [batch.job_id])
    assert applied[batch.job_id] == ["job.created", "job.status_changed", "job.status_changed"]


async def test_an_expired_batch_keeps_what_finished_and_expires_the_rest(
    pipeline: Pipeline, fake_openai: FakeOpenAI, pollers: Pollers, new_batch: NewBatch
) -> None:
    batch = await new_batch(10, ("succeeded", "errored"))
    pollers.start()
    await scenario.wait_status(pipeline, batch.job_id, "running")
    fake_openai.finish_items(batch.provider_batch_id, 4)
    fake_openai.expire_batch(batch.provider_batch_id)

    await scenario.wait_status(pipeline, batch.job_id, "expired")
    row = await pipeline.job_row(batch.job_id)
    assert row is not None and row["stop_reason"] == "timeout_exceeded"
    expected = expected_children(fake_openai, batch)
    assert Counter(expected.values()) == {"expired": 6, "completed": 2, "failed": 2}
    await scenario.wait_children(pipeline, batch, expected)
    notices = [orjson.loads(m.value) for m in await scenario.resume_notices(pipeline, batch, 4)]
    assert sorted(n["result_status"] for n in notices) == ["errored", "errored", "succeeded", "succeeded"]
    events = await pipeline.fetch(
        "SELECT command_id FROM job_events WHERE job_id = $1 ORDER BY seq", batch.job_id
    )
    assert events[-1]["command_id"] == f"batch-end:{batch.job_id}:expired"
    assert scenario.cancels_sent(fake_openai, batch) == 0


async def test_a_failed_batch_fails_its_items(
    pipeline: Pipeline, fake_openai: FakeOpenAI, pollers: Pollers, new_batch: NewBatch
) -> None:
    batch = await new_batch(3)
    fake_openai.fail_batch(batch.provider_batch_id)
    pollers.start()

    await scenario.wait_status(pipeline, batch.job_id, "failed")
    await scenario.wait_children(pipeline, batch, dict.fromkeys(batch.children.values(), "failed"))
    rows = await pipeline.fetch("SELECT result FROM batch_items WHERE batch_id = $1", batch.job_id)
    assert all("missing_result" in r["result"] for r in rows)
