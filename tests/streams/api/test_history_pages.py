"""A job's events and messages page like GET /jobs (docs/contract.md §9): limit, cursors, next_cursor."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import pytest

from storage.tables import job_events
from tests.streams.api.harness import (
    RunningApi,
    event_rows,
    insert_jobs,
    insert_rows,
    job_row,
    job_when,
    post,
    walk,
)
from tests.support.pipeline import Pipeline, unique

pytestmark = pytest.mark.e2e

EVENTS = 130
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
async def logged(api: RunningApi) -> tuple[str, list[str]]:
    """A `history` job with 130 events stored (as the worker stores them); returns it and its event ids."""
    job_id = unique("log")
    rows = event_rows(job_id, EVENTS, NOW)
    await insert_jobs(
        api.settings, [job_row(job_id, api.tenants["history"].organization_id, NOW, seq=EVENTS)]
    )
    await insert_rows(api.settings, job_events, rows)
    return job_id, [r["event_id"] for r in rows]


@pytest.mark.parametrize("limit", [7, 50, 1000])
async def test_events_walk_both_ways_without_gaps_or_repeats(
    api: RunningApi, logged: tuple[str, list[str]], limit: int
) -> None:
    job_id, ids = logged
    async with api.client("history") as client:
        forward, pages = await walk(client, f"/jobs/{job_id}/events", "events", "event_id", limit=limit)
        backward, _ = await walk(
            client, f"/jobs/{job_id}/events", "events", "event_id", limit=limit, ascending=False
        )
    assert forward == ids
    assert backward == ids[::-1]
    assert pages == -(-EVENTS // limit)


async def test_events_default_to_the_first_50(api: RunningApi, logged: tuple[str, list[str]]) -> None:
    job_id, ids = logged
    async with api.client("history") as client:
        body = (await client.get(f"/jobs/{job_id}/events")).json()
    assert [e["event_id"] for e in body["events"]] == ids[:50]
    assert body["next_cursor"] == ids[49]


@pytest.mark.parametrize("ascending", [True, False])
async def test_event_cursors_combine_in_either_order(
    api: RunningApi, logged: tuple[str, list[str]], ascending: bool
) -> None:
    job_id, ids = logged
    window = ids[21:100] if ascending else ids[21:100][::-1]
    params = {"after": ids[20], "before": ids[100], "limit": 9, "ascending": ascending}
    async with api.client("history") as client:
        seen, _ = await walk(client, f"/jobs/{job_id}/events", "events", "event_id", **params)
    assert seen == window


async def test_after_seq_still_narrows(api: RunningApi, logged: tuple[str, list[str]]) -> None:
    job_id, ids = logged
    async with api.client("history") as client:
        seen, _ = await walk(client, f"/jobs/{job_id}/events", "events", "event_id", after_seq=120)
    assert seen == ids[120:]


@pytest.mark.parametrize(
    ("cursors", "on_another_job"),
    [
        pytest.param({"after": "missing"}, False, id="unknown-event"),
        pytest.param({"after": 3}, True, id="another-jobs-event"),
        pytest.param({"before": 5, "after": 5}, False, id="before-equals-after"),
        pytest.param({"before": 5, "after": 9}, False, id="before-older-than-after"),
    ],
)
async def test_bad_event_cursors_are_422(
    api: RunningApi, logged: tuple[str, list[str]], cursors: dict[str, Any], on_another_job: bool
) -> None:
    """Integers stand for the event at that position of the log; "missing" for an id it does not hold."""
    job_id, ids = logged
    params = {k: ids[v] if isinstance(v, int) else f"{job_id}:999" for k, v in cursors.items()}
    if on_another_job:
        job_id = unique("other")
        await insert_jobs(api.settings, [job_row(job_id, api.tenants["history"].organization_id, NOW)])
    async with api.client("history") as client:
        response = await client.get(f"/jobs/{job_id}/events", params=params)
    assert response.status_code == 422
    assert response.json()["detail"]["code"] == "invalid_cursor"
    assert response.json()["detail"]["message"]


@pytest.mark.parametrize("limit", [0, 1001])
async def test_event_limit_out_of_range_is_422(
    api: RunningApi, logged: tuple[str, list[str]], limit: int
) -> None:
    async with api.client("history") as client:
        response = await client.get(f"/jobs/{logged[0]}/events", params={"limit": limit})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]


async def test_events_are_returned_exactly_as_published(api: RunningApi, pipeline: Pipeline) -> None:
    """The same documents a consumer of jobs.events reads, field for field (occurred_at's offset too)."""
    job_id = unique("as-published")
    async with api.client("history") as client:
        await post(client, type="create", job_id=job_id, metadata={"ratio": 0.5, "n": 1})
        await post(client, type="transition", job_id=job_id, status="running")
        await post(client, type="update_metadata", job_id=job_id, metadata={"n": None, "deep": {"a": [1]}})
        await job_when(pipeline, client, job_id, 3)
        served = (await client.get(f"/jobs/{job_id}/events")).json()["events"]
    published = await pipeline.events(job_id, 3)
    assert served == published
    assert served[0]["occurred_at"].endswith("+00:00")


@pytest.fixture(scope="module")
async def attached(api: RunningApi, pipeline: Pipeline) -> tuple[str, list[str]]:
    """A job with 150 messages attached by two commands through the worker; ids in listing order."""
    job_id = unique("chat")
    first = sorted(f"m-{secrets.token_hex(5)}" for _ in range(120))
    second = sorted(f"m-{secrets.token_hex(5)}" for _ in range(30))
    async with api.client("history") as client:
        await post(client, type="create", job_id=job_id)
        await post(client, type="attach_messages", job_id=job_id, message_ids=first)
        await job_when(pipeline, client, job_id, 2)  # so the second command's messages are attached later
        await post(client, type="attach_messages", job_id=job_id, message_ids=second)
        await job_when(pipeline, client, job_id, 3)
    return job_id, first + second


@pytest.mark.parametrize("limit", [7, 50, 1000])
async def test_messages_walk_both_ways_in_attachment_order(
    api: RunningApi, attached: tuple[str, list[str]], limit: int
) -> None:
    job_id, ids = attached
    path = f"/jobs/{job_id}/messages"
    async with api.client("history") as client:
        forward, pages = await walk(client, path, "messages", "message_id", limit=limit)
        backward, _ = await walk(client, path, "messages", "message_id", limit=limit, ascending=False)
        default = (await client.get(path)).json()
    assert forward == ids
    assert backward == ids[::-1]
    assert pages == -(-len(ids) // limit)
    assert [m["message_id"] for m in default["messages"]] == ids[:50]


async def test_message_cursors_and_their_errors(api: RunningApi, attached: tuple[str, list[str]]) -> None:
    job_id, ids = attached
    path = f"/jobs/{job_id}/messages"
    async with api.client("history") as client:
        window, _ = await walk(client, path, "messages", "message_id", after=ids[110], before=ids[130])
        unknown = await client.get(path, params={"after": "m-not-attached"})
        reversed_window = await client.get(path, params={"after": ids[130], "before": ids[110]})
    assert window == ids[111:130], "the window spans the two commands' attachment times"
    assert unknown.status_code == reversed_window.status_code == 422
    assert unknown.json()["detail"]["code"] == "invalid_cursor"
