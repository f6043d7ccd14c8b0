"""docs/contract.md §9 cursors over 250 jobs: every walk sees each job once, in (created_at, id) order."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from tests.streams.api.harness import RunningApi, insert_jobs, job_row, moments
from tests.streams.api.harness import walk as walk_pages

pytestmark = pytest.mark.e2e

TOTAL = 250


@pytest.fixture(scope="module")
async def ordered(api: RunningApi) -> list[str]:
    """250 job ids of the `pages` tenant in listing order; ids are random, so ties sort by id."""
    org = api.tenants["pages"].organization_id
    rows = [job_row(f"p-{secrets.token_hex(6)}", org, at) for at in moments(TOTAL)]
    await insert_jobs(api.settings, rows)
    return [r["id"] for r in sorted(rows, key=lambda r: (r["created_at"], r["id"]))]


async def walk(client: httpx.AsyncClient, **params: Any) -> tuple[list[str], int]:
    return await walk_pages(client, "/jobs", "jobs", "id", **params)


@pytest.mark.parametrize("limit", [7, 50, 1000])
async def test_walk_forward_and_backward_without_gaps_or_repeats(
    api: RunningApi, ordered: list[str], limit: int
) -> None:
    async with api.client("pages") as client:
        forward, pages = await walk(client, limit=limit)
        backward, _ = await walk(client, limit=limit, ascending=False)
    assert forward == ordered
    assert backward == ordered[::-1]
    assert pages == -(-TOTAL // limit), "a full last page must still end with next_cursor null"


async def test_default_page_is_50_oldest_first(api: RunningApi, ordered: list[str]) -> None:
    async with api.client("pages") as client:
        body = (await client.get("/jobs")).json()
    assert [j["id"] for j in body["jobs"]] == ordered[:50]
    assert body["next_cursor"] == ordered[49]


@pytest.mark.parametrize("ascending", [True, False])
async def test_before_and_after_alone(api: RunningApi, ordered: list[str], ascending: bool) -> None:
    direction = 1 if ascending else -1
    async with api.client("pages") as client:
        older, _ = await walk(client, before=ordered[100], limit=30, ascending=ascending)
        newer, _ = await walk(client, after=ordered[100], limit=30, ascending=ascending)
    assert older == ordered[:100][::direction]
    assert newer == ordered[101:][::direction]


@pytest.mark.parametrize("ascending", [True, False])
async def test_before_and_after_combined_in_either_order(
    api: RunningApi, ordered: list[str], ascending: bool
) -> None:
    window = ordered[41:200] if ascending else ordered[41:200][::-1]
    async with api.client("pages") as client:
        one, _ = await walk(client, after=ordered[40], before=ordered[200], limit=17, ascending=ascending)
        # The same window with the parameters in the other order on the wire.
        order = str(ascending).lower()
        query = f"/jobs?before={ordered[200]}&after={ordered[40]}&limit=1000&ascending={order}"
        other = [j["id"] for j in (await client.get(query)).json()["jobs"]]
    assert one == window
    assert other == window


async def test_adjacent_cursors_hold_nothing(api: RunningApi, ordered: list[str]) -> None:
    async with api.client("pages") as client:
        body = (await client.get("/jobs", params={"after": ordered[10], "before": ordered[11]})).json()
    assert body == {"jobs": [], "next_cursor": None}


@pytest.mark.parametrize(
    "cursors",
    [
        pytest.param({"before": 10, "after": 20}, id="before-older-than-after"),
        pytest.param({"before": 10, "after": 10}, id="before-equals-after"),
        pytest.param({"after": "no-such-job"}, id="unknown-after"),
        pytest.param({"before": "no-such-job", "after": 10}, id="unknown-before"),
    ],
)
async def test_bad_cursors_are_422_with_a_reason(
    api: RunningApi, ordered: list[str], cursors: dict[str, int | str]
) -> None:
    """Integers stand for the job at that position of the listing; strings are ids as given."""
    params = {name: ordered[c] if isinstance(c, int) else c for name, c in cursors.items()}
    async with api.client("pages") as client:
        response = await client.get("/jobs", params=params)
    assert response.status_code == 422
    assert response.json()["detail"]["code"] == "invalid_cursor"
    assert response.json()["detail"]["message"]


@pytest.mark.parametrize("limit", [0, 1001, -1])
async def test_limit_out_of_range_is_422(api: RunningApi, ordered: list[str], limit: int) -> None:
    async with api.client("pages") as client:
        response = await client.get("/jobs", params={"limit": limit})
    assert response.status_code == 422


async def test_another_organizations_job_is_an_unknown_cursor(api: RunningApi, ordered: list[str]) -> None:
    async with api.client("b") as client:
        response = await client.get("/jobs", params={"after": ordered[0]})
    assert response.status_code == 422
