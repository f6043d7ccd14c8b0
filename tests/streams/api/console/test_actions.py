"""Cancel and delete from the job page: CSRF-checked forms publishing through the API's command path."""

from __future__ import annotations

from urllib.parse import unquote_plus

import pytest

from tests.streams.api.console.browsing import csrf_of, signed_in
from tests.streams.api.harness import RunningApi, job_when, post
from tests.support.pipeline import Pipeline, unique

pytestmark = pytest.mark.e2e


async def test_cancel_then_delete_from_the_job_page(api: RunningApi, pipeline: Pipeline) -> None:
    job_id = unique("console-act")
    async with api.client("console-actions") as http, signed_in(api, "console-actions") as browser:
        await post(http, type="create", job_id=job_id)
        await job_when(pipeline, http, job_id, 1)
        csrf = csrf_of((await browser.get(f"/ui/jobs/{job_id}")).text)

        cancelled = await browser.post("/ui/actions/cancel", data={"csrf": csrf, "job_id": job_id})
        assert cancelled.status_code == 303
        assert unquote_plus(cancelled.headers["location"]).startswith(f"/ui/jobs/{job_id}?accepted=cancel ")
        shown = await browser.get(cancelled.headers["location"])
        assert "Accepted: cancel" in shown.text
        assert (await job_when(pipeline, http, job_id, 2))["status"] == "cancelled"

        deleted = await browser.post("/ui/actions/delete", data={"csrf": csrf, "job_id": job_id})
        assert deleted.status_code == 303

        async def gone() -> bool:
            return (await http.get(f"/jobs/{job_id}")).status_code == 404

        await pipeline.wait_for(gone, what=f"{job_id} deleted from the console")
        assert (await browser.get(f"/ui/jobs/{job_id}")).status_code == 404


async def test_a_forged_or_foreign_action_publishes_nothing(api: RunningApi, pipeline: Pipeline) -> None:
    job_id = unique("console-act")
    async with api.client("console-actions") as http:
        await post(http, type="create", job_id=job_id)
        await job_when(pipeline, http, job_id, 1)
    async with signed_in(api, "console-actions") as owner, signed_in(api, "console-other") as other:
        forged = await owner.post("/ui/actions/cancel", data={"csrf": "guessed", "job_id": job_id})
        missing = await owner.post("/ui/actions/cancel", data={"job_id": job_id})
        assert forged.status_code == missing.status_code == 403
        assert "did not come from your console session" in forged.text
        their_csrf = csrf_of((await other.get("/ui/jobs")).text)
        foreign = await other.post("/ui/actions/delete", data={"csrf": their_csrf, "job_id": job_id})
        assert foreign.status_code == 404
    await assert_nothing_published_after_create(pipeline, job_id)


async def assert_nothing_published_after_create(pipeline: Pipeline, job_id: str) -> None:
    found = await pipeline.read_topic(
        pipeline.settings.topics.commands, lambda m: m.key == job_id.encode(), 1, timeout_s=10, settle_s=2
    )
    assert [m.value for m in found if b'"create"' not in m.value] == [], "a refused action was published"
    assert len(found) == 1
