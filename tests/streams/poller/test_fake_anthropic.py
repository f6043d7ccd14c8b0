"""The fake server's own surface: what other suites and the CLI acceptance check rely on."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.fake_anthropic import FakeAnthropic

HEADERS = {"anthropic-version": "2023-06-01"}


async def test_the_api_requires_the_key_and_version(fake_anthropic: FakeAnthropic) -> None:
    batch_id = fake_anthropic.create_batch(count=1)
    async with httpx.AsyncClient(base_url=fake_anthropic.base_url) as client:
        no_key = await client.get(f"/v1/messages/batches/{batch_id}", headers=HEADERS)
        no_version = await client.get(
            f"/v1/messages/batches/{batch_id}", headers={"x-api-key": fake_anthropic.api_key}
        )
        ok = await client.get(
            f"/v1/messages/batches/{batch_id}", headers=HEADERS | {"x-api-key": fake_anthropic.api_key}
        )
    assert no_key.status_code == 401 and no_key.json()["error"]["type"] == "authentication_error"
    assert no_version.status_code == 400
    assert ok.status_code == 200 and ok.json()["type"] == "message_batch"
    assert ok.headers.get("content-type", "").startswith("application/json")


async def test_submit_and_cancel_through_the_api(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.submit_result_types = ("succeeded", "expired")
    headers = HEADERS | {"x-api-key": fake_anthropic.api_key}
    requests = [
        {"custom_id": f"job-{n}", "params": {"model": "m", "max_tokens": 1, "messages": []}} for n in range(4)
    ]
    async with httpx.AsyncClient(base_url=fake_anthropic.base_url, headers=headers) as client:
        created = (await client.post("/v1/messages/batches", json={"requests": requests})).json()
        assert created["processing_status"] == "in_progress" and created["results_url"] is None
        assert fake_anthropic.outcomes(created["id"]) == {
            "job-0": "succeeded",
            "job-1": "expired",
            "job-2": "succeeded",
            "job-3": "expired",
        }
        cancelled = (await client.post(f"/v1/messages/batches/{created['id']}/cancel")).json()
        assert cancelled["processing_status"] == "canceling" and cancelled["cancel_initiated_at"]
        fake_anthropic.end_batch(created["id"])
        ended = (await client.get(f"/v1/messages/batches/{created['id']}")).json()
        assert ended["request_counts"]["canceled"] == 4 and ended["results_url"].endswith("/results")


async def test_the_admin_endpoints_drive_state_without_the_python_api(fake_anthropic: FakeAnthropic) -> None:
    async with httpx.AsyncClient(base_url=fake_anthropic.base_url) as client:
        created = await client.post("/_fake/batches", json={"count": 3, "result_types": ["errored"]})
        assert created.status_code == 201
        batch_id = created.json()["id"]
        assert (await client.post(f"/_fake/batches/{batch_id}/end")).json()["processing_status"] == "ended"
        assert (
            await client.post("/_fake/faults", json={"kind": "status", "count": 2, "status": 503})
        ).is_success
        api = {"x-api-key": fake_anthropic.api_key} | HEADERS
        statuses = [
            (await client.get(f"/v1/messages/batches/{batch_id}", headers=api)).status_code for _ in range(3)
        ]
        assert statuses == [503, 503, 200]
        recorded = (await client.get("/_fake/requests")).json()
        assert [r["path"] for r in recorded][-3:] == [f"/v1/messages/batches/{batch_id}"] * 2 + [
            "/_fake/requests"
        ]
        assert (await client.post("/_fake/batches/nope/end")).status_code == 404
        assert (await client.post("/_fake/reset")).is_success
    assert fake_anthropic.requests == []


def test_a_standalone_server_starts_and_stops_on_a_free_port() -> None:
    with FakeAnthropic(api_key="k") as fake:
        url = fake.base_url
        batch_id = fake.create_batch(count=1)
        fake.hang_next(1, seconds=60)  # stop() must release it rather than wait a minute
        with httpx.Client(timeout=0.2) as client, pytest.raises(httpx.TimeoutException):
            client.get(f"{url}/v1/messages/batches/{batch_id}", headers=HEADERS | {"x-api-key": "k"})
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 5
    assert url.startswith("http://127.0.0.1:")
