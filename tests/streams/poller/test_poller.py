"""The poller with in-memory database/Kafka fakes and the real HTTP provider on the fake server."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator, Sequence

from storage.queries.batches import RunningBatch
from streams.poller.poller import Poller
from streams.poller.providers.anthropic import AnthropicBatchProvider
from streams.poller.providers.base import ProviderBatch, ProviderItemResult
from streams.settings import PollerSettings
from tests.support.fake_anthropic import ITEM_RESULT_TYPES, FakeAnthropic
from tests.support.poller_harness import Harness, items_of, make_poller


async def test_an_in_progress_batch_publishes_its_status_only(
    fake_anthropic: FakeAnthropic,
    anthropic_provider: AnthropicBatchProvider,
    harness: Harness,
    poller_settings: PollerSettings,
) -> None:
    batch = harness.add(fake_anthropic.create_batch(count=100, result_types=ITEM_RESULT_TYPES))

    report = await make_poller(anthropic_provider, harness, poller_settings).poll_once()

    (message,) = harness.published
    assert message.batch_job_id == batch.batch_job_id and message.provider == "anthropic"
    assert message.provider_batch_id == batch.provider_batch_id
    assert message.provider_status == "in_progress" and not message.ended and not message.cancelled
    assert message.items == [] and message.final and message.chunk == 0 and message.total_items is None
    assert message.request_counts is not None and message.request_counts.processing == 100
    assert (report.batches, report.ended, report.messages, report.failed) == (1, 0, 1, 0)
    assert not any(r.path.endswith("/results") for r in fake_anthropic.requests)


async def test_an_ended_batch_publishes_status_and_all_100_results_in_ordered_chunks(
    fake_anthropic: FakeAnthropic,
    anthropic_provider: AnthropicBatchProvider,
    harness: Harness,
    poller_settings: PollerSettings,
) -> None:
    batch = harness.add(fake_anthropic.create_batch(count=100, result_types=ITEM_RESULT_TYPES))
    fake_anthropic.end_batch(batch.provider_batch_id)
    settings = dataclasses.replace(poller_settings, chunk_max_items=30)

    report = await make_poller(anthropic_provider, harness, settings).poll_once()

    messages = harness.published
    assert [len(m.items) for m in messages] == [30, 30, 30, 10]
    assert [m.chunk for m in messages] == [0, 1, 2, 3]
    assert [m.final for m in messages] == [False, False, False, True]
    assert [m.total_items for m in messages] == [None, None, None, 100]
    assert all(m.ended and m.provider_status == "ended" and not m.cancelled for m in messages)
    assert items_of(messages) == list(fake_anthropic.outcomes(batch.provider_batch_id).items())
    assert Counter(t for _, t in items_of(messages)) == dict.fromkeys(ITEM_RESULT_TYPES, 25)
    first = messages[0].items[0]
    assert first.result_id == f"{batch.batch_job_id}:{first.custom_id}:{first.result_type}"
    assert len({m.result_id for m in messages}) == 4
    assert (report.ended, report.messages, report.items, report.failed) == (1, 4, 100, 0)


async def test_a_provider_500_is_retried_and_the_batch_still_completes(
    fake_anthropic: FakeAnthropic,
    anthropic_provider: AnthropicBatchProvider,
    harness: Harness,
    poller_settings: PollerSettings,
) -> None:
    batch = harness.add(fake_anthropic.create_batch(count=100, result_types=ITEM_RESULT_TYPES))
    fake_anthropic.end_batch(batch.provider_batch_id)
    fake_anthropic.fail_next(1, status=500)  # the retrieve
    fake_anthropic.fail_next(1, status=503, path_contains="/results")  # and then the results

    report = await make_poller(anthropic_provider, harness, poller_settings).poll_once()

    assert report.failed == 0 and report.ended == 1
    assert harness.published[-1].final and harness.published[-1].total_items == 100
    assert len(items_of(harness.published)) == 100
    paths = [r.path.rsplit("/", 1)[-1] for r in fake_anthropic.requests]
    assert paths == [
        batch.provider_batch_id,
        batch.provider_batch_id,
        "results",
        batch.provider_batch_id,
        "results",
    ]


async def test_a_hang_past_the_timeout_is_retried(
    fake_anthropic: FakeAnthropic,
    anthropic_provider: AnthropicBatchProvider,
    harness: Harness,
    poller_settings: PollerSettings,
) -> None:
    batch = harness.add(fake_anthropic.create_batch(count=10))
    fake_anthropic.end_batch(batch.provider_batch_id)
    fake_anthropic.hang_next(1, seconds=poller_settings.request_timeout_s * 4)

    report = await make_poller(anthropic_provider, harness, poller_settings).poll_once()

    assert report.failed == 0 and harness.published[-1].total_items == 10


async def test_a_results_stream_cut_mid_way_is_read_again_and_completes(
    fake_anthropic: FakeAnthropic,
    anthropic_provider: AnthropicBatchProvider,
    harness: Harness,
    poller_settings: PollerSettings,
) -> None:
    batch = harness.add(fake_anthropic.create_batch(count=100, result_types=ITEM_RESULT_TYPES))
    fake_anthropic.end_batch(batch.provider_batch_id)
    fake_anthropic.break_results_next(1, after_lines=60)
    settings = dataclasses.replace(poller_settings, chunk_max_items=25)

    report = await make_poller(anthropic_provider, harness, settings).poll_once()

    assert report.failed == 0
    finals = [m for m in harness.published if m.final]
    assert len(finals) == 1 and finals[0].total_items == 100
    # Chunks published before the cut come again, with the same item ids: harmless to consumers.
    item_ids = [item.result_id for m in harness.published for item in m.items]
    assert len(set(item_ids)) == 100 and len(item_ids) > 100


async def test_retries_are_bounded_and_the_batch_waits_for_the_next_round(
    fake_anthropic: FakeAnthropic,
    anthropic_provider: AnthropicBatchProvider,
    harness: Harness,
    poller_settings: PollerSettings,
) -> None:
    batch = harness.add(fake_anthropic.create_batch(count=5))
    fake_anthropic.end_batch(batch.provider_batch_id)
    fake_anthropic.fail_next(poller_settings.retry_attempts, status=529)
    poller = make_poller(anthropic_provider, harness, poller_settings)

    first = await poller.poll_once()
    assert first.failed == 1 and harness.published == []
    assert len(fake_anthropic.requests) == poller_settings.retry_attempts

    second = await poller.poll_once()
    assert second.failed == 0 and harness.published[-1].total_items == 5


async def test_a_non_retriable_error_is_not_retried_and_fails_nothing(
    fake_anthropic: FakeAnthropic, harness: Harness, poller_settings: PollerSettings
) -> None:
    batch = harness.add(fake_anthropic.create_batch(count=5))
    settings = dataclasses.replace(poller_settings, anthropic_api_key="sk-revoked")
    async with AnthropicBatchProvider.from_settings(settings) as provider:
        report = await make_poller(provider, harness, settings).poll_once()
    assert report.failed == 1 and harness.published == []
    assert len(fake_anthropic.requests) == 1
    assert fake_anthropic.status(batch.provider_batch_id) == "in_progress"


async def test_polling_an_ended_batch_twice_publishes_identical_result_ids(
    fake_anthropic: FakeAnthropic,
    anthropic_provider: AnthropicBatchProvider,
    harness: Harness,
    poller_settings: PollerSettings,
) -> None:
    harness.add(fake_anthropic.create_batch(count=100, result_types=ITEM_RESULT_TYPES))
    fake_anthropic.end_batch(harness.running[0].provider_batch_id)
    poller = make_poller(
        anthropic_provider, harness, dataclasses.replace(poller_settings, chunk_max_items=40)
    )

    await poller.poll_once()
    first = list(harness.published)
    harness.published.clear()
    await poller.poll_once()
    second = list(harness.published)

    assert [m.result_id for m in first] == [m.result_id for m in second]
    assert [i.result_id for m in first for i in m.items] == [i.result_id for m in second for i in m.items]
    assert [m.model_dump(exclude={"polled_at"}) for m in first] == [
        m.model_dump(exclude={"polled_at"}) for m in second
    ]


async def test_results_in_another_order_keep_their_item_ids(
    fake_anthropic: FakeAnthropic,
    anthropic_provider: AnthropicBatchProvider,
    harness: Harness,
    poller_settings: PollerSettings,
) -> None:
    """The API does not promise an order; item ids must not depend on it."""
    harness.add(fake_anthropic.create_batch(count=100, result_types=ITEM_RESULT_TYPES))
    fake_anthropic.end_batch(harness.running[0].provider_batch_id)
    poller = make_poller(
        anthropic_provider, harness, dataclasses.replace(poller_settings, chunk_max_items=40)
    )

    await poller.poll_once()
    first = {i.result_id for m in harness.published for i in m.items}
    harness.published.clear()
    fake_anthropic.shuffle_results = True
    await poller.poll_once()
    second = {i.result_id for m in harness.published for i in m.items}

    assert first == second and len(first) == 100


async def test_a_cancelled_batch_is_published_as_cancelled(
    fake_anthropic: FakeAnthropic,
    anthropic_provider: AnthropicBatchProvider,
    harness: Harness,
    poller_settings: PollerSettings,
) -> None:
    batch = harness.add(fake_anthropic.create_batch(count=20))
    fake_anthropic.cancel_batch(batch.provider_batch_id, finished=5)
    poller = make_poller(anthropic_provider, harness, poller_settings)

    await poller.poll_once()
    (canceling,) = harness.published
    assert canceling.provider_status == "canceling" and not canceling.ended and not canceling.cancelled

    harness.published.clear()
    fake_anthropic.end_batch(batch.provider_batch_id)
    await poller.poll_once()
    (ended,) = harness.published
    assert ended.ended and ended.cancelled and ended.final and ended.total_items == 20
    assert Counter(i.result_type for i in ended.items) == {"succeeded": 5, "canceled": 15}
    assert canceling.result_id != ended.result_id


async def test_big_results_are_chunked_by_bytes_too(
    fake_anthropic: FakeAnthropic,
    anthropic_provider: AnthropicBatchProvider,
    harness: Harness,
    poller_settings: PollerSettings,
) -> None:
    batch = harness.add(fake_anthropic.create_batch(count=30, text_padding=20_000))
    fake_anthropic.end_batch(batch.provider_batch_id)
    settings = dataclasses.replace(poller_settings, chunk_max_bytes=100_000)

    await make_poller(anthropic_provider, harness, settings).poll_once()

    assert len(items_of(harness.published)) == 30
    assert all(len(m.model_dump_json()) <= 100_000 for m in harness.published)
    assert len(harness.published) >= 7


async def test_an_ended_batch_without_items_still_sends_a_final_message(
    fake_anthropic: FakeAnthropic,
    anthropic_provider: AnthropicBatchProvider,
    harness: Harness,
    poller_settings: PollerSettings,
) -> None:
    batch = harness.add(fake_anthropic.create_batch(custom_ids=[]))
    fake_anthropic.end_batch(batch.provider_batch_id)

    await make_poller(anthropic_provider, harness, poller_settings).poll_once()

    (message,) = harness.published
    assert message.ended and message.final and message.items == [] and message.total_items == 0


async def test_one_failing_batch_does_not_stop_the_others(
    fake_anthropic: FakeAnthropic,
    anthropic_provider: AnthropicBatchProvider,
    harness: Harness,
    poller_settings: PollerSettings,
) -> None:
    good = harness.add(fake_anthropic.create_batch(count=3), "job-good")
    harness.add("msgbatch_missing", "job-missing")
    harness.running.append(RunningBatch("job-other", "openai", "batch_123"))
    fake_anthropic.end_batch(good.provider_batch_id)

    report = await make_poller(anthropic_provider, harness, poller_settings).poll_once()

    assert (report.batches, report.failed, report.skipped, report.ended) == (3, 1, 1, 1)
    assert {m.batch_job_id for m in harness.published} == {"job-good"}


async def test_a_publish_failure_leaves_the_batch_for_the_next_round(
    fake_anthropic: FakeAnthropic,
    anthropic_provider: AnthropicBatchProvider,
    harness: Harness,
    poller_settings: PollerSettings,
) -> None:
    batch = harness.add(fake_anthropic.create_batch(count=3))
    fake_anthropic.end_batch(batch.provider_batch_id)
    poller = make_poller(anthropic_provider, harness, poller_settings)

    harness.publish_error = ConnectionError("broker down")
    assert (await poller.poll_once()).failed == 1
    harness.publish_error = None
    assert (await poller.poll_once()).failed == 0
    assert harness.published[-1].total_items == 3


class CountingProvider:
    """The real provider, instrumented to record how many retrieves run at once."""

    def __init__(self, inner: AnthropicBatchProvider) -> None:
        self.inner = inner
        self.name = inner.name
        self.in_flight = 0
        self.peak = 0

    async def retrieve(self, provider_batch_id: str) -> ProviderBatch:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(0.02)
            return await self.inner.retrieve(provider_batch_id)
        finally:
            self.in_flight -= 1

    def results(self, provider_batch_id: str) -> AsyncIterator[ProviderItemResult]:
        return self.inner.results(provider_batch_id)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_concurrency_is_bounded(
    fake_anthropic: FakeAnthropic,
    anthropic_provider: AnthropicBatchProvider,
    harness: Harness,
    poller_settings: PollerSettings,
) -> None:
    for _ in range(12):
        harness.add(fake_anthropic.create_batch(count=2))
    provider = CountingProvider(anthropic_provider)
    settings = dataclasses.replace(poller_settings, poll_concurrency=3)

    report = await Poller(provider, harness.find_running_batches, harness.publish, settings).poll_once()

    assert report.batches == 12 and report.messages == 12 and report.failed == 0
    assert provider.peak == 3


async def test_run_forever_polls_until_the_batch_ends_and_stops_on_request(
    fake_anthropic: FakeAnthropic,
    anthropic_provider: AnthropicBatchProvider,
    harness: Harness,
    poller_settings: PollerSettings,
) -> None:
    batch = harness.add(fake_anthropic.create_batch(count=10))
    poller = make_poller(anthropic_provider, harness, poller_settings)
    task = asyncio.create_task(poller.run_forever())

    async def wait_for(condition: str) -> None:
        for _ in range(200):
            if condition == "status" and harness.published:
                return
            if condition == "final" and any(m.ended and m.final for m in harness.published):
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"poller never published {condition}")

    await wait_for("status")
    fake_anthropic.end_batch(batch.provider_batch_id)
    await wait_for("final")
    harness.running.clear()  # the agent has completed the batch job
    poller.stop()
    await asyncio.wait_for(task, timeout=2)
    assert harness.published[-1].total_items == 10


async def test_run_forever_survives_a_database_error(
    anthropic_provider: AnthropicBatchProvider, harness: Harness, poller_settings: PollerSettings
) -> None:
    calls = 0

    async def flaky_find() -> Sequence[RunningBatch]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("postgres unreachable")
        return []

    poller = Poller(anthropic_provider, flaky_find, harness.publish, poller_settings)
    task = asyncio.create_task(poller.run_forever())
    for _ in range(200):
        if calls >= 3:
            break
        await asyncio.sleep(0.01)
    poller.stop()
    await asyncio.wait_for(task, timeout=2)
    assert calls >= 3
