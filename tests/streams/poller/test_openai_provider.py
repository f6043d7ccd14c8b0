"""The OpenAI provider: statuses mapped, files matched by custom_id, hostile answers bounded and recorded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from streams.poller.exceptions import ProviderError
from streams.poller.providers.base import ProviderItemResult
from streams.poller.providers.openai import STATUSES, OpenAIBatchProvider
from tests.support.fake_openai import FakeOpenAI


async def collect(provider: OpenAIBatchProvider, batch_id: str) -> dict[str, ProviderItemResult]:
    return {r.custom_id: r async for r in provider.results(batch_id)}


async def test_every_status_maps_onto_the_poller_and_the_batch_job(
    fake_openai: FakeOpenAI, openai_provider: OpenAIBatchProvider
) -> None:
    seen: dict[str, tuple[str, str | None, bool]] = {}
    for status in ("validating", "in_progress"):
        batch_id = fake_openai.create_batch(count=2, status=status)  # type: ignore[arg-type]
        batch = await openai_provider.retrieve(batch_id)
        seen[status] = (batch.status, batch.outcome, batch.cancel_seen)
    finalizing = fake_openai.create_batch(count=2)
    fake_openai.finalize(finalizing)
    cancelling = fake_openai.create_batch(count=2)
    fake_openai.cancel_batch(cancelling)
    cancelled = fake_openai.create_batch(count=2)
    fake_openai.cancel_batch(cancelled)
    fake_openai.end_batch(cancelled)
    completed, expired, failed = (fake_openai.create_batch(count=2) for _ in range(3))
    fake_openai.end_batch(completed)
    fake_openai.expire_batch(expired)
    fake_openai.fail_batch(failed)
    for status, batch_id in [
        ("finalizing", finalizing),
        ("cancelling", cancelling),
        ("cancelled", cancelled),
        ("completed", completed),
        ("expired", expired),
        ("failed", failed),
    ]:
        batch = await openai_provider.retrieve(batch_id)
        seen[status] = (batch.status, batch.outcome, batch.cancel_seen)
    assert seen == {
        "validating": ("in_progress", None, False),
        "in_progress": ("in_progress", None, False),
        "finalizing": ("in_progress", None, False),
        "cancelling": ("canceling", None, True),
        "cancelled": ("ended", "cancelled", True),
        "completed": ("ended", "completed", False),
        "expired": ("ended", "expired", False),
        "failed": ("ended", "failed", False),
    }
    assert set(seen) == set(STATUSES), "every documented status is covered"


async def test_results_come_from_both_files_and_keep_what_finished(
    fake_openai: FakeOpenAI, openai_provider: OpenAIBatchProvider
) -> None:
    batch_id = fake_openai.create_batch(count=10, result_types=("succeeded", "errored"))
    fake_openai.finish_items(batch_id, 4)
    fake_openai.expire_batch(batch_id)
    batch = await openai_provider.retrieve(batch_id)
    assert (
        batch.request_counts.succeeded,
        batch.request_counts.errored,
        batch.request_counts.processing,
    ) == (
        2,
        8,
        0,
    )

    results = await collect(openai_provider, batch_id)

    assert {c: r.result_type for c, r in results.items()} == fake_openai.outcomes(batch_id)
    assert [results[f"item-{n:04d}"].result_type for n in range(5)] == [
        "succeeded",
        "errored",
        "succeeded",
        "errored",
        "expired",
    ]
    succeeded = results["item-0000"].result
    assert succeeded["type"] == "succeeded" and succeeded["response"]["body"]["object"] == "chat.completion"
    assert results["item-0001"].result["response"]["status_code"] == 400
    assert results["item-0009"].result["error"]["code"] == "batch_expired"
    paths = [r.path for r in fake_openai.requests]
    assert sum(p.endswith("/content") for p in paths) == 2, "the output file and the error file, once each"
    running = fake_openai.create_batch(count=1)
    with pytest.raises(ProviderError) as early:
        await collect(openai_provider, running)
    assert not early.value.retriable, "a batch still running has no results, whatever one asks"


def provider_on(handler: Callable[[httpx.Request], httpx.Response], **options: Any) -> OpenAIBatchProvider:
    return OpenAIBatchProvider(
        "sk-test", "http://openai.test/v1", transport=httpx.MockTransport(handler), **options
    )


def batch_body(**fields: Any) -> dict[str, Any]:
    body = {"id": "batch_1", "object": "batch", "status": "completed", "output_file_id": "file-out"}
    return body | fields


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        batch_body(object="file"),
        batch_body(status="paused"),
        batch_body(id="x" * 300),
        batch_body(request_counts={"total": -1, "completed": 0, "failed": 0}),
        batch_body(output_file_id=7),
    ],
)
async def test_a_malformed_batch_is_refused_not_retried(body: Any) -> None:
    async with provider_on(lambda request: httpx.Response(200, json=body)) as provider:
        with pytest.raises(ProviderError) as refused:
            await provider.retrieve("batch_1")
    assert not refused.value.retriable and "not a batch object" in str(refused.value)


async def test_hostile_result_lines_are_recorded_or_skipped_never_fatal() -> None:
    lines = [
        orjson.dumps({"custom_id": "ok", "response": {"status_code": 200, "body": {}}, "error": None}),
        b"{not json",
        orjson.dumps({"custom_id": "x" * 65, "response": {"status_code": 200}}),
        orjson.dumps({"custom_id": 7, "response": {"status_code": 200}}),
        orjson.dumps({"custom_id": "weird", "response": "yes"}),
        orjson.dumps({"custom_id": "huge", "response": {"status_code": 200, "body": "." * 5000}}),
        b'{"response": {"body": "' + b"." * 5000 + b'"}}',
        orjson.dumps({"custom_id": "late", "response": None, "error": {"code": "batch_cancelled"}}),
        b"",
    ]
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if request.url.path.endswith("/content"):
            return httpx.Response(200, content=b"\r\n".join(lines))
        return httpx.Response(200, json=batch_body())

    async with provider_on(handler, max_line_bytes=1024) as provider:
        await provider.retrieve("batch_1")
        results = await collect(provider, "batch_1")

    assert {c: r.result_type for c, r in results.items()} == {
        "ok": "succeeded",
        "weird": "errored",
        "huge": "errored",
        "late": "canceled",
    }
    assert results["weird"].result["error"]["code"] == "invalid_result"
    assert results["huge"].result["error"]["code"] == "result_too_large"
    assert paths == ["/v1/batches/batch_1", "/v1/files/file-out/content"]


async def test_errors_are_classified_like_every_provider() -> None:
    answers = iter(
        [
            httpx.Response(503, json={"error": {"message": "busy", "type": "server_error"}}),
            httpx.Response(429, headers={"retry-after": "3"}),
            httpx.Response(
                409, json={"error": {"message": "Cannot cancel", "type": "invalid_request_error"}}
            ),
            httpx.Response(404, headers={"x-request-id": "req_9"}),
        ]
    )
    async with provider_on(lambda request: next(answers)) as provider:
        errors = []
        for _ in range(4):
            with pytest.raises(ProviderError) as caught:
                await provider.cancel("batch_1")
            errors.append(caught.value)
    assert [(e.status_code, e.retriable) for e in errors] == [
        (503, True),
        (429, True),
        (409, True),
        (404, False),
    ]
    assert errors[1].retry_after == 3.0 and "req_9" in str(errors[3])


async def test_the_key_goes_as_a_bearer_token_to_the_configured_base(fake_openai: FakeOpenAI) -> None:
    async with OpenAIBatchProvider(fake_openai.api_key, fake_openai.base_url + "/") as provider:
        await provider.cancel(fake_openai.create_batch(count=1))
    (request,) = fake_openai.requests
    assert request.method == "POST" and request.path.startswith("/v1/batches/batch_")
    assert (
        request.path.endswith("/cancel")
        and request.headers["authorization"] == f"Bearer {fake_openai.api_key}"
    )
