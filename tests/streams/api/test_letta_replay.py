"""Letta's job-manager tests (tests/managers/test_job_manager.py: listing by metadata, deleting, cursor
pagination, auto-completion, timing records, messages paging), replayed as a Letta user would run them
against jobstream: over HTTP, through the real worker, Kafka and Postgres."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.streams.api.harness import RunningApi, job_when, post
from tests.support.pipeline import Pipeline, unique

pytestmark = pytest.mark.e2e


async def _job(pipeline: Pipeline, client: httpx.AsyncClient, seq: int = 1, **fields: Any) -> dict[str, Any]:
    """A job created over HTTP, once the worker has applied it (and `seq - 1` later commands)."""
    job_id = unique("letta")
    await post(client, type="create", job_id=job_id, **fields)
    return await job_when(pipeline, client, job_id, seq)


async def _ids(client: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await client.get("/jobs", params=params)
    assert response.status_code == 200, response.text
    return [job["id"] for job in response.json()["jobs"]]


async def test_list_jobs_with_metadata(api: RunningApi, pipeline: Pipeline) -> None:
    async with api.client("letta-list") as client:
        for i in range(3):
            await _job(pipeline, client, metadata={"source_id": f"source-test-{i}"})
        found = (await client.get("/jobs", params={"metadata.source_id": "source-test-2"})).json()["jobs"]
    assert [job["metadata"]["source_id"] for job in found] == ["source-test-2"]


async def test_delete_job_then_list_and_delete_not_found(api: RunningApi, pipeline: Pipeline) -> None:
    async with api.client("letta-delete") as client:
        job = await _job(pipeline, client, metadata={"type": "test"})
        assert (await client.delete(f"/jobs/{job['id']}")).status_code == 202

        async def listed_empty() -> bool:
            return await _ids(client) == []

        await pipeline.wait_for(listed_empty, what="the deleted job gone from the listing")
        assert (await client.delete("/jobs/nonexistent-id")).status_code == 404
        assert (await client.get("/jobs/nonexistent-id")).status_code == 404


async def test_list_jobs_pagination(api: RunningApi, pipeline: Pipeline) -> None:
    async with api.client("letta-pages") as client:
        for i in range(10):
            await _job(pipeline, client, metadata={"type": f"test-{i}"})
        assert len(await _ids(client, limit=5)) == 5
        first = await _ids(client, limit=3, ascending=True)  # J0 J1 J2
        last = await _ids(client, limit=3, ascending=False)  # J9 J8 J7
        assert set(first).isdisjoint(last)
        middle = await _ids(client, before=last[-1], after=first[-1], ascending=True)  # J3 … J6
        assert len(middle) == 4 and not set(middle) & (set(first) | set(last))
        middle_desc = await _ids(client, before=last[-1], after=first[-1], ascending=False)
        assert middle_desc == middle[::-1]
        earliest = await _ids(client, before=last[-1], ascending=False)  # everything before J7
        assert len(earliest) == 7 and not set(earliest) & set(last)
        everything = await _ids(client, limit=10)
    assert everything == first + middle + last[::-1]


async def test_update_job_auto_complete(api: RunningApi, pipeline: Pipeline) -> None:
    async with api.client("commands") as client:
        job = await _job(pipeline, client, metadata={"type": "test"})
        await post(client, type="transition", job_id=job["id"], status="completed")
        done = await job_when(pipeline, client, job["id"], 2)
    assert done["status"] == "completed" and done["completed_at"] is not None


async def test_record_ttft_and_response_duration(api: RunningApi, pipeline: Pipeline) -> None:
    """record_ttft, record_response_duration, and both: status-neutral, so a created job keeps its status."""
    async with api.client("commands") as client:
        job = await _job(pipeline, client, metadata={"type": "test_timing"})
        await post(client, type="update_metadata", job_id=job["id"], ttft_ns=2_000_000_000)
        await post(client, type="update_metadata", job_id=job["id"], total_duration_ns=8_500_000_000)
        timed = await job_when(pipeline, client, job["id"], 3)
    assert (timed["ttft_ns"], timed["total_duration_ns"], timed["status"]) == (
        2_000_000_000,
        8_500_000_000,
        "created",
    )


async def test_record_timing_invalid_job(api: RunningApi, pipeline: Pipeline) -> None:
    """Letta raises at once; here the command is accepted and its outcome is a job_not_found rejection."""
    job_id = unique("letta-missing")
    async with api.client("commands") as client:
        command_id = await post(client, type="update_metadata", job_id=job_id, ttft_ns=1_000_000_000)
    (rejection,) = await pipeline.events(job_id, 1)
    assert (rejection["command_id"], rejection["reason"]["code"]) == (command_id, "job_not_found")


async def test_job_messages_paged_and_ordered(api: RunningApi, pipeline: Pipeline) -> None:
    async with api.client("commands") as client:
        job = await _job(pipeline, client)
        for batch in (["m-0", "m-1"], ["m-2"], ["m-3", "m-4"]):
            await post(client, type="attach_messages", job_id=job["id"], message_ids=batch)
        await job_when(pipeline, client, job["id"], 4)
        path = f"/jobs/{job['id']}/messages"
        first = (await client.get(path, params={"limit": 2})).json()
        rest = (await client.get(path, params={"limit": 10, "after": first["next_cursor"]})).json()
        newest = (await client.get(path, params={"limit": 1, "ascending": False})).json()
    assert [m["message_id"] for m in first["messages"] + rest["messages"]] == [f"m-{n}" for n in range(5)]
    assert rest["next_cursor"] is None and [m["message_id"] for m in newest["messages"]] == ["m-4"]
