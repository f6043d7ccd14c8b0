"""DELETE /jobs/{id} through the real worker: 202, then the job and its history are gone (rule 14)."""

from __future__ import annotations

import pytest

from tests.streams.api.harness import RunningApi, job_when, post
from tests.support.pipeline import Pipeline, unique

pytestmark = pytest.mark.e2e


async def test_delete_removes_the_job_and_says_so_on_the_topic(api: RunningApi, pipeline: Pipeline) -> None:
    job_id = unique("api-del")
    async with api.client("commands") as client:
        await post(client, type="create", job_id=job_id, metadata={"source_id": "s-1"})
        await post(client, type="attach_messages", job_id=job_id, message_ids=["m-1"])
        await job_when(pipeline, client, job_id, 2)
        response = await client.delete(f"/jobs/{job_id}", params={"command_id": f"{job_id}-delete"})
        assert response.status_code == 202 and response.json() == {"command_id": f"{job_id}-delete"}

        async def gone() -> bool:
            return (await client.get(f"/jobs/{job_id}")).status_code == 404

        await pipeline.wait_for(gone, what=f"{job_id} deleted")
        assert (await client.get(f"/jobs/{job_id}/messages")).status_code == 404
        assert (await client.delete(f"/jobs/{job_id}")).status_code == 404
    events = await pipeline.events(job_id, 3)
    assert [(e["type"], e["seq"]) for e in events] == [
        ("job.created", 1),
        ("job.messages_attached", 2),
        ("job.deleted", 3),
    ]
    assert events[-1]["command_id"] == f"{job_id}-delete" and events[-1]["job"]["metadata"] == {}

    async def purged() -> bool:  # by the worker's sweeper, moments later
        left = await pipeline.fetch("SELECT type FROM job_events WHERE job_id = $1", job_id)
        return [r["type"] for r in left] == ["job.deleted"]

    await pipeline.wait_for(purged, what=f"{job_id}'s history purged")
    assert await pipeline.fetch("SELECT 1 FROM job_messages WHERE job_id = $1", job_id) == []
    assert await pipeline.fetch("SELECT 1 FROM job_purges WHERE job_id = $1", job_id) == []


async def test_another_organization_cannot_delete(api: RunningApi, pipeline: Pipeline) -> None:
    job_id = unique("api-del")
    async with api.client("commands") as owner, api.client("b") as other:
        await post(owner, type="create", job_id=job_id)
        await job_when(pipeline, owner, job_id, 1)
        assert (await other.delete(f"/jobs/{job_id}")).status_code == 404
        assert (await owner.get(f"/jobs/{job_id}")).status_code == 200
