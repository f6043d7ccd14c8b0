"""`duration_gt`, `duration_lt` and `order_by=duration` on GET /jobs, with cursors in that order."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest

from tests.streams.api.harness import RunningApi, insert_jobs, job_row, moments
from tests.streams.api.test_pagination import walk

pytestmark = pytest.mark.e2e

TOTAL = 60
AGENTS = ("d-agent-1", "d-agent-2", "d-agent-3")


@pytest.fixture(scope="module")
async def seeded(api: RunningApi) -> list[dict[str, Any]]:
    """60 finished runs (durations 0-19 s, so ties fall to the id) over three agents, and 10 unfinished."""
    org = api.tenants["durations"].organization_id
    rows = []
    for n, at in enumerate(moments(TOTAL + 10)):
        columns: dict[str, Any] = {"job_type": "run", "agent_id": AGENTS[n % 3], "status": "running"}
        if n < TOTAL:
            took = timedelta(seconds=n % 20, milliseconds=500 * (n % 2))
            columns.update(status="completed", completed_at=at + took, stop_reason="end_turn")
        rows.append(job_row(f"d-{secrets.token_hex(6)}", org, at, **columns))
    await insert_jobs(api.settings, rows)
    return rows


@pytest.fixture(scope="module")
def finished(seeded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in seeded if r.get("completed_at")]


def by_duration(rows: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in sorted(rows, key=lambda r: (r["completed_at"] - r["created_at"], r["id"]))]


def took(row: dict[str, Any]) -> float:
    return float((row["completed_at"] - row["created_at"]).total_seconds())


@pytest.mark.parametrize("limit", [7, 1000])
async def test_order_by_duration_walks_every_finished_job_once(
    api: RunningApi, finished: list[dict[str, Any]], limit: int
) -> None:
    async with api.client("durations") as client:
        forward, _ = await walk(client, order_by="duration", limit=limit)
        backward, _ = await walk(client, order_by="duration", limit=limit, ascending=False)
    assert forward == by_duration(finished)
    assert backward == by_duration(finished)[::-1]


@pytest.mark.parametrize(
    "params",
    [{"duration_gt": 10}, {"duration_lt": 2.5}, {"duration_gt": 3, "duration_lt": 4.5}, {"duration_gt": 30}],
)
async def test_duration_bounds_keep_finished_jobs_strictly_inside(
    api: RunningApi, finished: list[dict[str, Any]], params: dict[str, float]
) -> None:
    low, high = params.get("duration_gt", -1.0), params.get("duration_lt", float("inf"))
    expected = [r for r in finished if low < took(r) < high]
    async with api.client("durations") as client:
        by_created, _ = await walk(client, limit=5, **params)
        ordered, _ = await walk(client, order_by="duration", limit=5, **params)
    assert sorted(by_created) == sorted(r["id"] for r in expected)
    assert ordered == by_duration(expected)


@pytest.mark.parametrize("order_by", ["created_at", "duration"])
@pytest.mark.parametrize("ascending", [True, False])
async def test_several_agents_merge_in_order(
    api: RunningApi, seeded: list[dict[str, Any]], order_by: str, ascending: bool
) -> None:
    """Two agent ids are one walk per agent merged: the pages are as one walk of both would be (an id
    given twice counts once)."""
    wanted = [r for r in seeded if r["agent_id"] in AGENTS[:2]]
    if order_by == "duration":
        expected = by_duration([r for r in wanted if r.get("completed_at")])
    else:
        expected = [r["id"] for r in sorted(wanted, key=lambda r: (r["created_at"], r["id"]))]
    async with api.client("durations") as client:
        seen, _ = await walk(
            client, agent_id=[*AGENTS[:2], AGENTS[0]], order_by=order_by, ascending=ascending, limit=6
        )
    assert seen == (expected if ascending else expected[::-1])


async def test_an_unfinished_job_is_no_cursor_for_order_by_duration(
    api: RunningApi, finished: list[dict[str, Any]]
) -> None:
    async with api.client("durations") as client:
        running = (await client.get("/jobs", params={"status": "running", "limit": 1})).json()["jobs"][0]
        response = await client.get("/jobs", params={"order_by": "duration", "after": running["id"]})
        by_created = await client.get("/jobs", params={"after": running["id"]})
    assert response.status_code == 422
    assert response.json()["detail"]["code"] == "invalid_cursor"
    assert "finished jobs only" in response.json()["detail"]["message"]
    assert by_created.status_code == 200


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "315360001", "1e400", "ten"])
async def test_bad_durations_are_422(api: RunningApi, value: str) -> None:
    async with api.client("durations") as client:
        response = await client.get("/jobs", params={"duration_gt": value})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "duration_gt"]
