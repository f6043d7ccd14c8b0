"""The fake OpenAI server as the official SDK sees it: what it sends is accepted, what it answers parses.

The SDK validates strictly here (`_strict_response_validation`); the file lines, which the SDK hands
over as bytes, are parsed with its own models (`ChatCompletion`, `ErrorObject`, `BatchError`), and the
provider's reading of each answer is compared with the SDK's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import orjson
import pytest
from openai.types import Batch, BatchError, FileObject
from openai.types.chat import ChatCompletion
from openai.types.shared import ErrorObject

from streams.poller.providers.openai import OpenAIBatchProvider
from tests.support.fake_openai import FakeOpenAI
from tests.support.sdk_clients import strict_client


@pytest.fixture
async def sdk(fake_openai: FakeOpenAI) -> AsyncIterator[openai.AsyncOpenAI]:
    async with strict_client(openai.AsyncOpenAI, fake_openai) as client:
        yield client


async def lines_of(sdk: openai.AsyncOpenAI, file_id: str | None) -> list[dict[str, object]]:
    if file_id is None:
        return []
    content = await sdk.files.content(file_id)
    return [orjson.loads(line) for line in content.content.splitlines() if line.strip()]


def parse_line_with_the_sdk(line: dict[str, object]) -> str:
    """The result type a line means, read through the SDK's models of what it holds."""
    response, error = line["response"], line["error"]
    if error is not None:
        code = BatchError.model_validate(error).code
        return {"batch_expired": "expired", "batch_cancelled": "canceled"}.get(code or "", "errored")
    assert isinstance(response, dict)
    if response["status_code"] == 200:
        ChatCompletion.model_validate(response["body"])
        return "succeeded"
    ErrorObject.model_validate(response["body"]["error"])
    return "errored"


async def test_the_sdk_submits_a_batch_and_reads_its_files(
    fake_openai: FakeOpenAI, sdk: openai.AsyncOpenAI, openai_provider: OpenAIBatchProvider
) -> None:
    fake_openai.submit_result_types = ("succeeded", "errored")
    requests = [
        {"custom_id": f"req-{n}", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m"}}
        for n in range(6)
    ]
    upload = b"".join(orjson.dumps(r) + b"\n" for r in requests)
    uploaded = await sdk.files.create(file=("requests.jsonl", upload), purpose="batch")
    assert isinstance(uploaded, FileObject) and uploaded.bytes == len(upload)
    created = await sdk.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert isinstance(created, Batch) and created.status == "validating"
    assert (await openai_provider.retrieve(created.id)).status == "in_progress"

    fake_openai.end_batch(created.id)
    ended = await sdk.batches.retrieve(created.id)
    ours = await openai_provider.retrieve(created.id)
    assert ended.status == "completed" and ours.ended and ours.outcome == "completed"
    assert ended.request_counts is not None and ended.request_counts.total == 6
    assert (ours.request_counts.succeeded, ours.request_counts.errored) == (
        ended.request_counts.completed,
        ended.request_counts.failed,
    )
    assert ours.ended_at is not None and int(ours.ended_at.timestamp()) == ended.completed_at

    lines = await lines_of(sdk, ended.output_file_id) + await lines_of(sdk, ended.error_file_id)
    theirs = {str(line["custom_id"]): parse_line_with_the_sdk(line) for line in lines}
    mine = {r.custom_id: r.result_type async for r in openai_provider.results(created.id)}
    assert theirs == mine == fake_openai.outcomes(created.id)
    assert sorted(theirs.values()) == ["errored"] * 3 + ["succeeded"] * 3

    sent = [r for r in fake_openai.requests if "x-stainless-lang" in r.headers]
    assert {r.path.split("/")[2] for r in sent} == {"files", "batches"}
    assert all(r.headers["authorization"] == f"Bearer {fake_openai.api_key}" for r in sent)


async def test_the_sdk_parses_a_cancel_an_expiry_and_a_failure(
    fake_openai: FakeOpenAI, sdk: openai.AsyncOpenAI, openai_provider: OpenAIBatchProvider
) -> None:
    cancelled = fake_openai.create_batch(count=5)
    fake_openai.finish_items(cancelled, 2)
    cancelling = await sdk.batches.cancel(cancelled)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at is not None
    seen = await openai_provider.retrieve(cancelled)
    assert seen.status == "canceling" and seen.cancel_seen and not seen.ended
    fake_openai.end_batch(cancelled)
    done = await sdk.batches.retrieve(cancelled)
    assert done.status == "cancelled" and (await openai_provider.retrieve(cancelled)).outcome == "cancelled"
    kinds = [parse_line_with_the_sdk(line) for line in await lines_of(sdk, done.error_file_id)]
    assert kinds == ["canceled"] * 3
    with pytest.raises(openai.ConflictError):  # an ended batch cannot be cancelled
        await sdk.batches.cancel(cancelled)

    expired = fake_openai.create_batch(count=4)
    fake_openai.finish_items(expired, 1)
    fake_openai.expire_batch(expired)
    gone = await sdk.batches.retrieve(expired)
    assert gone.status == "expired" and gone.expired_at is not None
    assert [parse_line_with_the_sdk(line) for line in await lines_of(sdk, gone.error_file_id)] == [
        "expired"
    ] * 3
    assert (await openai_provider.retrieve(expired)).outcome == "expired"

    failed = fake_openai.create_batch(count=2, status="validating")
    fake_openai.fail_batch(failed)
    broken = await sdk.batches.retrieve(failed)
    assert broken.status == "failed" and broken.errors is not None and broken.errors.data
    assert broken.output_file_id is None and broken.error_file_id is None
    assert (await openai_provider.retrieve(failed)).outcome == "failed"
    assert [r async for r in openai_provider.results(failed)] == []


async def test_the_sdk_reads_the_fakes_errors(fake_openai: FakeOpenAI, sdk: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        await sdk.batches.retrieve("batch_unknown")
    assert missing.value.request_id is not None and missing.value.type == "invalid_request_error"

    batch_id = fake_openai.create_batch(count=1)
    fake_openai.fail_next(1, status=503)
    with pytest.raises(openai.InternalServerError) as unavailable:
        await sdk.batches.retrieve(batch_id)
    assert unavailable.value.status_code == 503 and unavailable.value.type == "server_error"

    wrong_key = openai.AsyncOpenAI(api_key="sk-wrong", base_url=fake_openai.base_url, max_retries=0)
    async with wrong_key:
        with pytest.raises(openai.AuthenticationError) as refused:
            await wrong_key.batches.retrieve(batch_id)
    assert refused.value.code == "invalid_api_key"
