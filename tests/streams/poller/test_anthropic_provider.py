"""AnthropicBatchProvider against the fake server: wire format, streaming and error classes."""

from __future__ import annotations

import socket
from collections import Counter

import httpx
import orjson
import pytest

from streams.poller.exceptions import ProviderError
from streams.poller.providers.anthropic import API_VERSION, AnthropicBatchProvider
from streams.poller.providers.base import ProviderItemResult
from tests.support.batch_fixtures import TEST_TIMEOUT_S
from tests.support.fake_anthropic import ITEM_RESULT_TYPES, FakeAnthropic


async def collect(provider: AnthropicBatchProvider, batch_id: str) -> list[ProviderItemResult]:
    return [result async for result in provider.results(batch_id)]


async def test_retrieve_in_progress_sends_key_and_version(
    fake_anthropic: FakeAnthropic, anthropic_provider: AnthropicBatchProvider
) -> None:
    batch_id = fake_anthropic.create_batch(count=7)

    batch = await anthropic_provider.retrieve(batch_id)

    assert batch.provider_batch_id == batch_id
    assert batch.status == "in_progress"
    assert not batch.ended and not batch.cancelled and not batch.cancel_initiated
    assert batch.request_counts.processing == 7 and batch.request_counts.total == 7
    assert batch.ended_at is None
    (request,) = fake_anthropic.requests
    assert request.path == f"/v1/messages/batches/{batch_id}"
    assert request.headers["x-api-key"] == fake_anthropic.api_key
    assert request.headers["anthropic-version"] == API_VERSION == "2023-06-01"


async def test_retrieve_ended_and_cancelled(
    fake_anthropic: FakeAnthropic, anthropic_provider: AnthropicBatchProvider
) -> None:
    ended = fake_anthropic.create_batch(count=4, result_types=ITEM_RESULT_TYPES)
    fake_anthropic.end_batch(ended)
    cancelled = fake_anthropic.create_batch(count=5)
    fake_anthropic.cancel_batch(cancelled, finished=2)

    batch = await anthropic_provider.retrieve(ended)
    assert batch.ended and not batch.cancelled and batch.ended_at is not None
    assert batch.request_counts.model_dump() == {
        "processing": 0,
        "succeeded": 1,
        "errored": 1,
        "canceled": 1,
        "expired": 1,
    }

    canceling = await anthropic_provider.retrieve(cancelled)
    assert canceling.status == "canceling" and canceling.cancel_initiated and not canceling.cancelled
    fake_anthropic.end_batch(cancelled)
    batch = await anthropic_provider.retrieve(cancelled)
    assert batch.ended and batch.cancelled
    assert batch.request_counts.succeeded == 2 and batch.request_counts.canceled == 3


async def test_cancel_posts_once_and_reads_the_answer(
    fake_anthropic: FakeAnthropic, anthropic_provider: AnthropicBatchProvider
) -> None:
    batch_id = fake_anthropic.create_batch(count=3)

    batch = await anthropic_provider.cancel(batch_id)

    assert batch.status == "canceling" and batch.cancel_seen and not batch.ended
    (request,) = fake_anthropic.requests
    assert (request.method, request.path) == ("POST", f"/v1/messages/batches/{batch_id}/cancel")
    assert request.headers["x-api-key"] == fake_anthropic.api_key
    fake_anthropic.end_batch(batch_id)
    with pytest.raises(ProviderError) as refused:  # an ended batch cannot be cancelled
        await anthropic_provider.cancel(batch_id)
    assert not refused.value.retriable and refused.value.status_code == 400
    with pytest.raises(ProviderError) as unknown:
        await anthropic_provider.cancel("msgbatch_unknown")
    assert not unknown.value.retriable and unknown.value.status_code == 404


async def test_results_streams_100_items_of_all_four_types(
    fake_anthropic: FakeAnthropic, anthropic_provider: AnthropicBatchProvider
) -> None:
    batch_id = fake_anthropic.create_batch(count=100, result_types=ITEM_RESULT_TYPES)
    fake_anthropic.end_batch(batch_id)
    await anthropic_provider.retrieve(batch_id)

    results = await collect(anthropic_provider, batch_id)

    assert [r.custom_id for r in results] == fake_anthropic.custom_ids(batch_id)
    assert Counter(r.result_type for r in results) == dict.fromkeys(ITEM_RESULT_TYPES, 25)
    by_type = {r.result_type: r.result for r in results}
    assert by_type["succeeded"]["message"]["content"][0]["type"] == "text"
    assert by_type["errored"]["error"]["error"]["type"] == "invalid_request_error"
    assert by_type["canceled"] == {"type": "canceled"} and by_type["expired"] == {"type": "expired"}
    # The results_url from the retrieve was used: no second retrieve before the stream.
    assert [r.path for r in fake_anthropic.requests] == [
        f"/v1/messages/batches/{batch_id}",
        f"/v1/messages/batches/{batch_id}/results",
    ]
    assert fake_anthropic.requests[-1].headers["x-api-key"] == fake_anthropic.api_key


async def test_results_without_a_prior_retrieve_looks_up_the_results_url(
    fake_anthropic: FakeAnthropic, anthropic_provider: AnthropicBatchProvider
) -> None:
    batch_id = fake_anthropic.create_batch(count=3)
    fake_anthropic.end_batch(batch_id)

    assert len(await collect(anthropic_provider, batch_id)) == 3
    assert len(await collect(anthropic_provider, batch_id)) == 3  # and again: re-polls must work
    assert [r.path.rsplit("/", 1)[-1] for r in fake_anthropic.requests] == [batch_id, "results"] * 2


async def test_results_of_a_running_batch_is_not_retriable(
    fake_anthropic: FakeAnthropic, anthropic_provider: AnthropicBatchProvider
) -> None:
    batch_id = fake_anthropic.create_batch(count=3)
    with pytest.raises(ProviderError) as caught:
        await collect(anthropic_provider, batch_id)
    assert not caught.value.retriable


@pytest.mark.parametrize("status", [500, 502, 503, 529, 429])
async def test_server_errors_and_rate_limits_are_retriable(
    fake_anthropic: FakeAnthropic, anthropic_provider: AnthropicBatchProvider, status: int
) -> None:
    batch_id = fake_anthropic.create_batch(count=1)
    fake_anthropic.fail_next(1, status=status)

    with pytest.raises(ProviderError) as caught:
        await anthropic_provider.retrieve(batch_id)

    assert caught.value.retriable and caught.value.status_code == status
    assert (await anthropic_provider.retrieve(batch_id)).status == "in_progress"  # the fault was one-off


async def test_server_error_on_results_is_retriable(
    fake_anthropic: FakeAnthropic, anthropic_provider: AnthropicBatchProvider
) -> None:
    batch_id = fake_anthropic.create_batch(count=2)
    fake_anthropic.end_batch(batch_id)
    fake_anthropic.fail_next(1, status=500, path_contains="/results")

    with pytest.raises(ProviderError) as caught:
        await collect(anthropic_provider, batch_id)
    assert caught.value.retriable and caught.value.status_code == 500


async def test_a_hang_past_the_timeout_is_a_retriable_error(
    fake_anthropic: FakeAnthropic, anthropic_provider: AnthropicBatchProvider
) -> None:
    batch_id = fake_anthropic.create_batch(count=1)
    fake_anthropic.hang_next(1, seconds=TEST_TIMEOUT_S * 4)

    with pytest.raises(ProviderError) as caught:
        await anthropic_provider.retrieve(batch_id)

    assert caught.value.retriable and caught.value.status_code is None
    assert "timed out" in str(caught.value)


async def test_a_results_stream_cut_mid_body_is_retriable(
    fake_anthropic: FakeAnthropic, anthropic_provider: AnthropicBatchProvider
) -> None:
    batch_id = fake_anthropic.create_batch(count=50)
    fake_anthropic.end_batch(batch_id)
    fake_anthropic.break_results_next(1, after_lines=20)

    seen: list[str] = []
    with pytest.raises(ProviderError) as caught:
        async for result in anthropic_provider.results(batch_id):
            seen.append(result.custom_id)
    assert caught.value.retriable
    assert len(seen) <= 20


async def test_a_bad_api_key_is_not_retriable(fake_anthropic: FakeAnthropic) -> None:
    batch_id = fake_anthropic.create_batch(count=1)
    async with AnthropicBatchProvider(
        "sk-wrong", fake_anthropic.base_url, timeout_s=TEST_TIMEOUT_S
    ) as provider:
        with pytest.raises(ProviderError) as caught:
            await provider.retrieve(batch_id)
    assert not caught.value.retriable and caught.value.status_code == 401
    assert "authentication_error" in str(caught.value)


async def test_an_unknown_batch_is_not_retriable(
    fake_anthropic: FakeAnthropic, anthropic_provider: AnthropicBatchProvider
) -> None:
    with pytest.raises(ProviderError) as caught:
        await anthropic_provider.retrieve("msgbatch_nope")
    assert not caught.value.retriable and caught.value.status_code == 404


async def test_nothing_listening_is_retriable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # closed again: nothing listens on that port now
    async with AnthropicBatchProvider("k", f"http://127.0.0.1:{port}", timeout_s=TEST_TIMEOUT_S) as provider:
        with pytest.raises(ProviderError) as caught:
            await provider.retrieve("msgbatch_x")
    assert caught.value.retriable


async def test_a_results_url_on_another_origin_is_not_sent_the_key() -> None:
    """The key goes only to the configured base URL; a foreign results_url falls back to the path."""
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        if request.url.path.endswith("/results"):
            return httpx.Response(200, content=b'{"custom_id": "a", "result": {"type": "expired"}}\n')
        body = {
            "id": "b1",
            "type": "message_batch",
            "processing_status": "ended",
            "request_counts": {"expired": 1},
            "cancel_initiated_at": None,
            "ended_at": "2024-08-20T18:37:24.100435Z",
            "results_url": "https://elsewhere.example/v1/messages/batches/b1/results",
        }
        return httpx.Response(200, json=body)

    provider = AnthropicBatchProvider(
        "k", "https://gateway.internal/anthropic", transport=httpx.MockTransport(handler)
    )
    async with provider:
        batch = await provider.retrieve("b1")
        results = await collect(provider, "b1")
    assert batch.ended and batch.ended_at is not None
    assert [r.result_type for r in results] == ["expired"]
    assert [str(url) for url in seen] == [
        "https://gateway.internal/anthropic/v1/messages/batches/b1",
        "https://gateway.internal/anthropic/v1/messages/batches/b1/results",
    ]


async def test_hostile_result_lines_are_recorded_or_skipped_never_fatal() -> None:
    """A bad line fails no poll (asking again returns the same file): recorded if it names an item."""
    lines = [
        b'{"custom_id": "ok", "result": {"type": "succeeded", "message": {}}}',
        b"{not json",
        b'{"custom_id": "' + b"x" * 65 + b'", "result": {"type": "succeeded"}}',
        b'{"result": {"type": "succeeded"}}',
        b'{"custom_id": "odd", "result": {"type": "maybe"}}',
        b'{"custom_id": "flat", "result": "succeeded"}',
        b'{"custom_id": "huge", "result": {"type": "succeeded", "text": "' + b"." * (600 * 1024) + b'"}}',
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/results"):
            return httpx.Response(200, content=b"\n".join(lines))
        ended = {"id": "b1", "type": "message_batch", "processing_status": "ended", "results_url": None}
        return httpx.Response(200, json=ended)

    transport = httpx.MockTransport(handler)
    async with AnthropicBatchProvider("k", "https://api.test", transport=transport) as provider:
        results = {r.custom_id: r for r in await collect(provider, "b1")}

    assert {c: r.result_type for c, r in results.items()} == {
        "ok": "succeeded",
        "odd": "errored",
        "flat": "errored",
        "huge": "errored",
    }
    assert results["odd"].result["error"]["error"]["type"] == "invalid_result"
    assert results["huge"].result["error"]["error"]["type"] == "result_too_large"
    assert len(orjson.dumps(results["huge"].result)) < 1024, "the over-long result is not carried on"
