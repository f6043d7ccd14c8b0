"""The fake Anthropic server as the official SDK sees it: what it sends is accepted, what it answers parses.

The SDK validates strictly here (`_strict_response_validation`), so a field the fake leaves out or shapes
differently from the real API fails these tests; the provider's own reading of each response is compared
with the SDK's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anthropic
import pytest
from anthropic._constants import ANTHROPIC_API_VERSION
from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse

from streams.poller.providers.anthropic import AnthropicBatchProvider
from tests.support.fake_anthropic import API_VERSIONS, ITEM_RESULT_TYPES, FakeAnthropic
from tests.support.sdk_clients import strict_client


@pytest.fixture
async def sdk(fake_anthropic: FakeAnthropic) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with strict_client(anthropic.AsyncAnthropic, fake_anthropic) as client:
        yield client


def test_the_fake_knows_the_version_the_sdk_pins() -> None:
    assert ANTHROPIC_API_VERSION in API_VERSIONS


async def test_the_sdk_drives_a_batch_through_the_fake(
    fake_anthropic: FakeAnthropic, sdk: anthropic.AsyncAnthropic, anthropic_provider: AnthropicBatchProvider
) -> None:
    fake_anthropic.submit_result_types = ITEM_RESULT_TYPES
    params = {"model": "claude-fake", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    created = await sdk.messages.batches.create(
        requests=[{"custom_id": f"req-{n}", "params": params} for n in range(8)]  # type: ignore[misc]
    )
    assert isinstance(created, MessageBatch) and created.processing_status == "in_progress"
    assert created.request_counts.processing == 8 and created.results_url is None

    fake_anthropic.end_batch(created.id)
    ended = await sdk.messages.batches.retrieve(created.id)
    ours = await anthropic_provider.retrieve(created.id)
    assert ended.processing_status == ours.status == "ended"
    assert ended.ended_at == ours.ended_at and ended.cancel_initiated_at is None and not ours.cancel_initiated
    assert ended.request_counts.model_dump() == ours.request_counts.model_dump()

    results = [r async for r in await sdk.messages.batches.results(created.id)]
    assert all(isinstance(r, MessageBatchIndividualResponse) for r in results)
    theirs = {r.custom_id: r.result.type for r in results}
    mine = {r.custom_id: r.result_type async for r in anthropic_provider.results(created.id)}
    assert theirs == mine == fake_anthropic.outcomes(created.id)
    assert sorted(set(theirs.values())) == sorted(ITEM_RESULT_TYPES)

    sent = [
        r for r in fake_anthropic.requests if r.path.startswith("/v1/") and "x-stainless-lang" in r.headers
    ]
    assert sent, "the SDK's requests were not recorded"
    for request in sent:  # what the SDK sends, accepted above: a bearer key and its own pinned version
        assert request.headers["authorization"] == f"Bearer {fake_anthropic.api_key}"
        assert request.headers["anthropic-version"] == ANTHROPIC_API_VERSION


async def test_the_sdk_parses_a_cancel_and_the_cancelled_results(
    fake_anthropic: FakeAnthropic, sdk: anthropic.AsyncAnthropic, anthropic_provider: AnthropicBatchProvider
) -> None:
    batch_id = fake_anthropic.create_batch(count=6)
    fake_anthropic.finish_items(batch_id, 2)
    cancelling = await sdk.messages.batches.cancel(batch_id)
    assert cancelling.processing_status == "canceling" and cancelling.cancel_initiated_at is not None
    again = await anthropic_provider.cancel(batch_id)  # the provider's reading of the same answer
    assert again.status == "canceling" and again.cancel_initiated

    fake_anthropic.end_batch(batch_id)
    ended = await sdk.messages.batches.retrieve(batch_id)
    assert ended.request_counts.canceled == 4 and ended.request_counts.succeeded == 2
    results = {r.custom_id: r.result.type async for r in await sdk.messages.batches.results(batch_id)}
    assert sorted(results.values()) == ["canceled"] * 4 + ["succeeded"] * 2

    with pytest.raises(anthropic.BadRequestError) as refused:  # an ended batch cannot be cancelled
        await sdk.messages.batches.cancel(batch_id)
    assert refused.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


async def test_the_sdk_reads_the_fakes_errors(
    fake_anthropic: FakeAnthropic, sdk: anthropic.AsyncAnthropic
) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        await sdk.messages.batches.retrieve("msgbatch_unknown")
    assert missing.value.request_id is not None and missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]

    batch_id = fake_anthropic.create_batch(count=1)
    fake_anthropic.fail_next(1, status=529)
    with pytest.raises(anthropic.APIStatusError) as overloaded:
        await sdk.messages.batches.retrieve(batch_id)
    assert overloaded.value.status_code == 529
    assert overloaded.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]

    wrong_key = anthropic.AsyncAnthropic(api_key="sk-wrong", base_url=fake_anthropic.base_url, max_retries=0)
    async with wrong_key:
        with pytest.raises(anthropic.AuthenticationError):
            await wrong_key.messages.batches.retrieve(batch_id)
