"""Every docs/contract.md §9 filter, alone and combined, over rows whose answers are known."""

from __future__ import annotations

from typing import Any

import pytest

from tests.streams.api.harness import RunningApi, insert_jobs, job_row, moments

pytestmark = pytest.mark.e2e

# id -> the columns that set it apart; each filter below picks a known subset.
SHAPES: dict[str, dict[str, Any]] = {
    "f-created": {},
    "f-running-run": {"status": "running", "job_type": "run", "agent_id": "agent-1", "background": True},
    "f-done-run": {
        "status": "completed",
        "job_type": "run",
        "agent_id": "agent-2",
        "background": False,
        "stop_reason": "end_turn",
    },
    "f-failed": {"status": "failed", "stop_reason": "error", "agent_id": "agent-1"},
    "f-batch": {"status": "running", "job_type": "batch"},
    "f-item-1": {"status": "completed", "batch_id": "f-batch", "stop_reason": "end_turn"},
    "f-item-2": {"status": "pending", "batch_id": "f-batch"},
}

CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({"status": "running"}, {"f-running-run", "f-batch"}),
    ({"status": ["completed", "failed"]}, {"f-done-run", "f-failed", "f-item-1"}),
    ({"job_type": "run"}, {"f-running-run", "f-done-run"}),
    ({"job_type": "batch"}, {"f-batch"}),
    ({"agent_id": "agent-1"}, {"f-running-run", "f-failed"}),
    ({"agent_id": ["agent-1", "agent-2"]}, {"f-running-run", "f-done-run", "f-failed"}),
    ({"stop_reason": "end_turn"}, {"f-done-run", "f-item-1"}),
    ({"background": "true"}, {"f-running-run"}),
    ({"background": "false"}, {"f-done-run"}),
    ({"batch_id": "f-batch"}, {"f-item-1", "f-item-2"}),
    ({"status": "completed", "job_type": "run", "agent_id": "agent-2"}, {"f-done-run"}),
    ({"status": "pending", "job_type": "run"}, set()),
    ({}, set(SHAPES)),
]


@pytest.fixture(scope="module")
async def seeded(api: RunningApi) -> dict[str, str]:
    """The shapes under unique ids in the `filters` tenant; returns shape name -> real id."""
    org = api.tenants["filters"].organization_id
    real = {name: f"{name}-{org}" for name in SHAPES}
    rows = []
    for (name, columns), at in zip(SHAPES.items(), moments(len(SHAPES), ties=1), strict=True):
        if "batch_id" in columns:
            columns = {**columns, "batch_id": real[columns["batch_id"]]}
        rows.append(job_row(real[name], org, at, **columns))
    await insert_jobs(api.settings, rows)
    return real


@pytest.mark.parametrize(("params", "expected"), CASES, ids=[str(p) for p, _ in CASES])
async def test_filter(
    api: RunningApi, seeded: dict[str, str], params: dict[str, Any], expected: set[str]
) -> None:
    if "batch_id" in params:
        params = {**params, "batch_id": seeded[params["batch_id"]]}
    async with api.client("filters") as client:
        response = await client.get("/jobs", params={**params, "limit": 1000})
    assert response.status_code == 200, response.text
    assert {j["id"] for j in response.json()["jobs"]} == {seeded[name] for name in expected}


async def test_organization_filter_only_narrows(api: RunningApi, seeded: dict[str, str]) -> None:
    own = api.tenants["filters"].organization_id
    other = api.tenants["a"].organization_id
    async with api.client("filters") as client:
        mine = (await client.get("/jobs", params={"organization_id": own})).json()
        theirs = (await client.get("/jobs", params={"organization_id": other})).json()
    assert {j["id"] for j in mine["jobs"]} == set(seeded.values())
    assert theirs == {"jobs": [], "next_cursor": None}


@pytest.mark.parametrize(
    "params",
    [{"status": "sleeping"}, {"job_type": "cron"}, {"stop_reason": "bored"}, {"background": "maybe"}],
)
async def test_unknown_filter_values_are_422(api: RunningApi, params: dict[str, str]) -> None:
    async with api.client("filters") as client:
        assert (await client.get("/jobs", params=params)).status_code == 422


async def test_job_fields_are_the_public_job(api: RunningApi, seeded: dict[str, str]) -> None:
    async with api.client("filters") as client:
        job = (await client.get(f"/jobs/{seeded['f-done-run']}")).json()
    assert job["status"] == "completed" and job["agent_id"] == "agent-2" and job["background"] is False
    assert job["organization_id"] == api.tenants["filters"].organization_id
    assert job["metadata"] == {} and job["callback_attempts"] == 0
