"""POST /commands through the real worker, and the read endpoints it feeds."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.streams.api.harness import RunningApi, assert_nothing_published, job_when, post
from tests.support.pipeline import Pipeline, unique

pytestmark = pytest.mark.e2e


async def test_commands_are_applied_and_readable(api: RunningApi, pipeline: Pipeline) -> None:
    job_id = unique("api-job")
    async with api.client("commands") as client:
        created = await post(client, type="create", job_id=job_id, job_type="run", agent_id="agent-9")
        job = await job_when(pipeline, client, job_id, 1)
        assert (job["status"], job["job_type"], job["agent_id"]) == ("created", "run", "agent-9")
        assert job["organization_id"] == api.tenants["commands"].organization_id
        await post(client, type="transition", job_id=job_id, status="running", command_id="run-1")
        await post(client, type="attach_messages", job_id=job_id, message_ids=["m-1", "m-2"])
        await post(client, type="transition", job_id=job_id, status="completed", stop_reason="end_turn")
        job = await job_when(pipeline, client, job_id, 4)
        events = (await client.get(f"/jobs/{job_id}/events")).json()["events"]
        later = (await client.get(f"/jobs/{job_id}/events", params={"after_seq": 2})).json()["events"]
        messages = (await client.get(f"/jobs/{job_id}/messages")).json()["messages"]
    assert (job["status"], job["stop_reason"]) == ("completed", "end_turn") and job["completed_at"]
    assert [e["seq"] for e in events] == [1, 2, 3, 4]
    assert [e["type"] for e in events] == [
        "job.created",
        "job.status_changed",
        "job.messages_attached",
        "job.status_changed",
    ]
    assert events[0]["command_id"] == created and events[1]["command_id"] == "run-1"
    assert [e["event_id"] for e in events] == [f"{job_id}:{n}" for n in range(1, 5)]
    assert [e["seq"] for e in later] == [3, 4]
    assert sorted(m["message_id"] for m in messages) == ["m-1", "m-2"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"type": "transition", "status": "sleeping"}, 422),
        ({"type": "transition"}, 422),
        ({"type": "record_callback", "attempts": 1}, 422),
        ({"type": "create", "status": "completed"}, 422),  # needs no state: refused at the door
        ({"type": "create", "job_type": "batch"}, 422),
        ({"type": "create", "agent_id": "a" * 10_000}, 422),
        ({"type": "cancel", "organization_id": "someone-else"}, 403),
    ],
)
async def test_refused_commands_publish_nothing(
    api: RunningApi, pipeline: Pipeline, body: dict[str, Any], status: int
) -> None:
    job_id = unique("refused")
    async with api.client("commands") as client:
        response = await client.post("/commands", json={**body, "job_id": job_id})
    assert response.status_code == status, response.text
    assert response.json()["detail"]["message"]
    await assert_nothing_published(pipeline, job_id)


async def test_a_body_that_is_not_an_object_is_422(api: RunningApi) -> None:
    async with api.client("commands") as client:
        listed = await client.post("/commands", json=["create"])
        garbled = await client.post("/commands", content=b"{not json")
        empty = await client.post("/commands")
    assert (listed.status_code, listed.json()["detail"]["code"]) == (422, "not_an_object")
    assert (garbled.status_code, garbled.json()["detail"]["code"]) == (422, "invalid_json")
    assert (empty.status_code, empty.json()["detail"]["code"]) == (422, "invalid_json")


async def test_unknown_job_is_404_everywhere(api: RunningApi) -> None:
    async with api.client("commands") as client:
        for path in ("/jobs/nope", "/jobs/nope/events", "/jobs/nope/messages"):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert response.json()["detail"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
    ],
    ids=["none", "unknown", "basic", "empty"],
)
async def test_requests_without_a_valid_token_are_401(
    api: RunningApi, pipeline: Pipeline, headers: dict[str, str]
) -> None:
    job_id = unique("anon")
    async with httpx.AsyncClient(base_url=api.url, headers=headers) as client:
        responses = [
            await client.get("/jobs"),
            await client.get(f"/jobs/{job_id}"),
            await client.get(f"/jobs/{job_id}/events"),
            await client.get(f"/jobs/{job_id}/messages"),
            await client.post("/commands", json={"type": "create", "job_id": job_id}),
        ]
    assert [r.status_code for r in responses] == [401] * 5
    assert all(r.headers["www-authenticate"] == "Bearer" for r in responses)
    await assert_nothing_published(pipeline, job_id)


async def test_hostile_bodies_are_refused_not_crashed_on(api: RunningApi, pipeline: Pipeline) -> None:
    """What a fuzzer or a hostile tenant sends: each gets a 4xx with a reason, nothing is published."""
    job_id = unique("hostile-http")
    start = f'{{"type":"create","job_id":"{job_id}","metadata":'
    nested = start + "[" * 100_000 + "]" * 100_000 + "}"
    huge = start + '{"a":"' + "x" * 5_000_000 + '"}}'
    not_a_number = start + '{"a":NaN}}'
    endless_integer = start + '{"a":' + "9" * 5_000 + "}}"
    not_utf8 = start.encode() + b'{"a":"\xff\xfe"}}'

    async def chunks() -> Any:  # no Content-Length: the limit counts the body as it arrives
        for _ in range(40):
            yield b" " * 100_000
        yield b"{}"

    async with api.client("commands") as client:
        deep = await client.post("/commands", content=nested, headers={"content-type": "application/json"})
        big = await client.post("/commands", content=huge, headers={"content-type": "application/json"})
        streamed = await client.post(
            "/commands", content=chunks(), headers={"content-type": "application/json"}
        )
        nan = await client.post(
            "/commands", content=not_a_number, headers={"content-type": "application/json"}
        )
        digits = await client.post("/commands", content=endless_integer)
        latin = await client.post("/commands", content=not_utf8)
    assert (deep.status_code, deep.json()["detail"]["code"]) == (422, "too_deep")
    assert (digits.status_code, digits.json()["detail"]["code"]) == (422, "invalid_json")
    assert (latin.status_code, latin.json()["detail"]["code"]) == (422, "invalid_json")
    assert (big.status_code, big.json()["detail"]["code"]) == (413, "too_large")
    assert streamed.status_code == 413, streamed.text
    assert (nan.status_code, nan.json()["detail"]["code"]) == (422, "not_json")
    await assert_nothing_published(pipeline, job_id)
