"""The live view: server-sent events from `jobs.events`, only of the signed-in organization's jobs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from streams.api.console.live import visible
from tests.streams.api.console.browsing import signed_in
from tests.streams.api.harness import RunningApi, post
from tests.support.pipeline import Pipeline, unique


async def sent_events(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
    async for line in lines:
        if line.startswith("data: "):
            yield json.loads(line[len("data: ") :])


@pytest.mark.e2e
async def test_new_events_arrive_live_and_only_the_organizations(api: RunningApi, pipeline: Pipeline) -> None:
    mine, theirs = unique("live-mine"), unique("live-theirs")
    async with (
        signed_in(api, "console-live") as browser,
        api.client("console-live") as own,
        api.client("console-other") as other,
        browser.stream("GET", "/ui/live/events") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        lines = response.aiter_lines()
        assert await anext(lines) == ": ready"
        await post(other, type="create", job_id=theirs)
        await pipeline.events(theirs, 1)  # on the topic before ours is even sent
        await post(own, type="create", job_id=mine)
        await post(own, type="transition", job_id=mine, status="running")
        seen: list[dict[str, Any]] = []
        async with asyncio.timeout(60):
            async for event in sent_events(lines):
                seen.append(event)
                if event["job_id"] == mine and event["seq"] == 2:
                    break
    assert [(e["job_id"], e["type"], e["seq"], e["status"]) for e in seen] == [
        (mine, "job.created", 1, "created"),
        (mine, "job.status_changed", 2, "running"),
    ]
    assert seen[0]["event_id"] == f"{mine}:1" and seen[0]["occurred_at"]


async def test_the_live_page_loads_its_script_from_the_console_itself(api: RunningApi) -> None:
    async with signed_in(api, "console-live") as browser:
        page = await browser.get("/ui/live")
        script = await browser.get("/ui/static/live.js")
    assert '<script src="/ui/static/live.js"></script>' in page.text
    assert "<script>" not in page.text  # nothing inline: the policy would refuse it anyway
    assert script.status_code == 200 and 'EventSource("/ui/live/events")' in script.text
    assert "textContent" in script.text and "innerHTML" not in script.text.split("\n", 2)[2]


def test_only_events_of_the_organizations_jobs_are_shown() -> None:
    event = {"event_id": "j:1", "type": "job.created", "job_id": "j", "seq": 1, "occurred_at": "t"}
    mine = json.dumps({**event, "job": {"organization_id": "org-a", "status": "created"}}).encode()
    assert visible(mine, "org-a") == {**event, "status": "created"}
    assert visible(mine, "org-b") is None
    assert visible(json.dumps({**event, "job": {"status": "created"}}).encode(), "org-a") is None
    assert visible(b"not json", "org-a") is None
    assert visible(b"[1]", "org-a") is None
    assert visible(None, "org-a") is None
