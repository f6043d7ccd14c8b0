"""A token for organization B sees and changes nothing of organization A's jobs."""

from __future__ import annotations

import pytest

from tests.streams.api.harness import RunningApi, job_when, post
from tests.support.pipeline import Pipeline, unique

pytestmark = pytest.mark.e2e


async def test_org_b_never_sees_or_changes_org_a_jobs(api: RunningApi, pipeline: Pipeline) -> None:
    job_id = unique("a-job")
    org_a = api.tenants["a"].organization_id
    async with api.client("a") as alice, api.client("b") as bob:
        await post(alice, type="create", job_id=job_id, agent_id="shared-agent")
        await post(alice, type="attach_messages", job_id=job_id, message_ids=["secret-message"])
        await job_when(pipeline, alice, job_id, 2)

        listed = [
            await bob.get("/jobs", params={"limit": 1000}),
            await bob.get("/jobs", params={"agent_id": "shared-agent"}),
            await bob.get("/jobs", params={"organization_id": org_a}),
        ]
        assert all(r.status_code == 200 and r.json()["jobs"] == [] for r in listed)
        for path in (f"/jobs/{job_id}", f"/jobs/{job_id}/events", f"/jobs/{job_id}/messages"):
            response = await bob.get(path)
            assert response.status_code == 404, path
            assert response.json() == {"detail": "job not found in your organization"}, "404s must look alike"

        forged = await bob.post(
            "/commands", json={"type": "cancel", "job_id": job_id, "organization_id": org_a}
        )
        assert forged.status_code == 403
        cancel_id = await post(bob, type="cancel", job_id=job_id)  # accepted, then refused by the worker

        events = await pipeline.events(job_id, 3)
        rejected = next(e for e in events if e["command_id"] == cancel_id)
        assert rejected["type"] == "job.command_rejected" and rejected["reason"]["code"] == "forbidden"
        job = (await alice.get(f"/jobs/{job_id}")).json()
        assert (job["status"], job["seq"]) == ("created", 2)
        assert [j["id"] for j in (await alice.get("/jobs")).json()["jobs"]] == [job_id]
