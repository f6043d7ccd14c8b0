"""The console's jobs list and job page, read from rows written straight into Postgres."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from storage.tables import callback_deliveries, job_events, job_messages, job_rejections
from tests.streams.api.console.browsing import link, rows, signed_in
from tests.streams.api.harness import RunningApi, event_rows, insert_jobs, insert_rows, job_row
from tests.support.pipeline import unique

START = datetime(2025, 3, 1, tzinfo=UTC)


def org(api: RunningApi, tenant: str) -> str:
    return api.tenants[tenant].organization_id


async def test_the_list_shows_only_the_callers_jobs_and_filters_them(api: RunningApi) -> None:
    tag = unique("tag")
    mine = [unique("cj") for _ in range(3)]
    theirs = unique("cj-other")
    await insert_jobs(
        api.settings,
        [
            job_row(
                mine[0], org(api, "console"), START, status="running", agent_id="ag-1", metadata={"t": tag}
            ),
            job_row(
                mine[1], org(api, "console"), START, status="created", agent_id="ag-2", metadata={"t": tag}
            ),
            job_row(
                mine[2],
                org(api, "console"),
                START,
                status="cancelled",
                stop_reason="cancelled",
                metadata={"t": tag},
                completed_at=START + timedelta(seconds=4),
            ),
            job_row(theirs, org(api, "console-other"), START, status="running", metadata={"t": tag}),
        ],
    )
    async with signed_in(api, "console") as client:

        async def listed(**params: str | list[str]) -> list[str]:
            response = await client.get("/ui/jobs", params={"meta": f"t={tag}", **params})
            assert response.status_code == 200, response.text
            return sorted(row[0] for row in rows(response.text, "jobs"))

        assert await listed() == sorted(mine)
        assert await listed(status="running") == [mine[0]]
        assert await listed(status=["running", "created"]) == sorted(mine[:2])
        assert await listed(agent_id="ag-2") == [mine[1]]
        assert await listed(stop_reason="cancelled") == [mine[2]]
        assert await listed(**{"metadata.t": "no-such"}) == []
        assert (await client.get(f"/ui/jobs/{theirs}")).status_code == 404

        page = (await client.get("/ui/jobs", params={"meta": f"t={tag}"})).text
        assert "3 jobs:" in page and "cancelled 1" in page and "created 1" in page and "running 1" in page
        assert "over 1 finished" in page and "p50 4.000" in page


async def test_next_page_links_walk_the_whole_listing_with_cursors(api: RunningApi) -> None:
    tag = unique("paged")
    ids = sorted(unique("cp") for _ in range(5))
    await insert_jobs(
        api.settings, [job_row(i, org(api, "console"), START, metadata={"t": tag}) for i in ids]
    )
    async with signed_in(api, "console") as client:
        seen: list[str] = []
        url: str | None = f"/ui/jobs?meta=t%3D{tag}&limit=2"
        pages = 0
        while url is not None:
            page = (await client.get(url)).text
            pages += 1
            seen.extend(row[0] for row in rows(page, "jobs"))
            following = link(page, "next")
            url = f"/ui/jobs{following}" if following else None
        assert seen == ids and pages == 3
        newest_first = (await client.get(f"/ui/jobs?meta=t%3D{tag}&limit=2&ascending=false")).text
        assert [row[0] for row in rows(newest_first, "jobs")] == ids[::-1][:2]
        assert "before=" in (link(newest_first, "next") or "")


async def test_the_job_page_shows_fields_timeline_messages_and_callbacks(api: RunningApi) -> None:
    job_id = unique("cjob")
    await insert_jobs(
        api.settings,
        [job_row(job_id, org(api, "console"), START, status="completed", seq=3, agent_id="ag-9")],
    )
    await insert_rows(api.settings, job_events, event_rows(job_id, 3, START)[::-1])
    await insert_rows(
        api.settings,
        job_messages,
        [
            {"job_id": job_id, "message_id": f"msg-{n}", "created_at": START + timedelta(seconds=n)}
            for n in (2, 1)
        ],
    )
    await insert_rows(
        api.settings,
        callback_deliveries,
        [
            {
                "event_id": f"{job_id}:3",
                "job_id": job_id,
                "organization_id": org(api, "console"),
                "url": "https://hooks.example/done",
                "payload": {},
                "attempts": 4,
                "state": "failed",
                "last_status_code": 502,
                "last_error": "bad gateway",
                "next_attempt_at": START,
                "created_at": START,
            }
        ],
    )
    rejection = {
        "event_id": f"{job_id}:rejected:c-late",
        "type": "job.command_rejected",
        "job_id": job_id,
        "seq": 3,
        "command_id": "c-late",
        "occurred_at": (START + timedelta(seconds=9)).isoformat(),
        "reason": {"code": "invalid_transition", "message": "completed is terminal"},
        "command": {"type": "transition", "job_id": job_id, "status": "running"},
        "job": None,
    }
    await insert_rows(
        api.settings,
        job_rejections,
        [{"job_id": job_id, "command_id": "c-late", "payload": rejection, "occurred_at": START}],
    )
    async with signed_in(api, "console") as client:
        response = await client.get(f"/ui/jobs/{job_id}")
    assert response.status_code == 200
    [rejected] = rows(response.text, "rejections")
    assert rejected[1:] == ["3", "transition", "invalid_transition", "completed is terminal"]
    fields = dict((row[0], row[1]) for row in rows(response.text, "fields") if len(row) == 2)
    assert fields["status"] == "completed" and fields["agent_id"] == "ag-9" and fields["seq"] == "3"
    assert [row[0] for row in rows(response.text, "events")] == ["1", "2", "3"]
    assert "msg-1" in response.text.split("msg-2")[0]  # by created_at
    [delivery] = rows(response.text, "callbacks")
    assert delivery[1:6] == ["https://hooks.example/done", "failed", "4", "502", "bad gateway"]
    assert delivery[-1] == "closed", "the endpoint's breaker: no failures on record"


async def test_another_organizations_job_is_not_found(api: RunningApi) -> None:
    job_id = unique("cjob-other")
    await insert_jobs(api.settings, [job_row(job_id, org(api, "console-other"), START, metadata={"x": "y"})])
    async with signed_in(api, "console") as client:
        response = await client.get(f"/ui/jobs/{job_id}")
        assert response.status_code == 404 and "No such job" in response.text and job_id not in response.text
        assert job_id not in (await client.get("/ui/jobs")).text


async def test_script_in_a_jobs_id_and_metadata_is_shown_as_text(api: RunningApi) -> None:
    job_id = unique("<script>alert(1)</script>")
    hostile = {"<script>k</script>": "<img src=x onerror=alert(2)>", "t": unique("xss")}
    await insert_jobs(api.settings, [job_row(job_id, org(api, "console"), START, metadata=hostile)])
    async with signed_in(api, "console") as client:
        listing = await client.get("/ui/jobs", params={"meta": f"t={hostile['t']}"})
        page = await client.get(f"/ui/jobs/{quote(job_id, safe='')}")
    for response in (listing, page):
        assert response.status_code == 200
        assert "<script>alert" not in response.text and "<img" not in response.text
        assert "<script>k" not in response.text
        assert html.escape(job_id, quote=False) in response.text
        assert "script-src 'self'" in response.headers["content-security-policy"]
    assert rows(listing.text, "jobs")[0][0] == job_id  # a reader sees the id as it is
    assert "&lt;img src=x onerror=alert(2)&gt;" in page.text
