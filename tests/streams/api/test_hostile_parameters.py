"""Parameters Postgres cannot store or compare are a 422 naming them, on every route (never a 500)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.bounds import MAX_ID_LENGTH, MAX_INT4
from tests.streams.api.harness import RunningApi, insert_jobs, job_row
from tests.support.pipeline import unique

pytestmark = pytest.mark.e2e

JOB = unique("hostile")  # an existing job of the `hostile` tenant, so every route reaches its query


@pytest.fixture(scope="module", autouse=True)
async def existing_job(api: RunningApi) -> None:
    await insert_jobs(api.settings, [job_row(JOB, api.tenants["hostile"].organization_id, datetime.now(UTC))])


@pytest.mark.parametrize(
    ("url", "where", "name"),
    [
        ("/jobs?after=a%00b", "query", "after"),
        ("/jobs?before=%00", "query", "before"),
        ("/jobs?agent_id=ok&agent_id=a%00", "query", "agent_id"),
        ("/jobs?batch_id=%00", "query", "batch_id"),
        ("/jobs?organization_id=x%00", "query", "organization_id"),
        ("/jobs?metadata.team=a%00", "query", "metadata.team"),  # not declared: covered all the same
        ("/jobs/a%00b", "path", "job_id"),
        ("/jobs/a%00b/events", "path", "job_id"),
        ("/jobs/a%00b/messages", "path", "job_id"),
        (f"/jobs/{JOB}/events?after=%00", "query", "after"),
        (f"/jobs/{JOB}/messages?before=m%00", "query", "before"),
        ("/batches/a%00b", "path", "batch_id"),
    ],
)
async def test_nul_anywhere_is_422_naming_the_parameter(
    api: RunningApi, url: str, where: str, name: str
) -> None:
    async with api.client("hostile") as client:
        response = await client.get(url)
    assert response.status_code == 422, response.text
    (problem,) = response.json()["detail"]
    assert (problem["loc"], problem["type"]) == ([where, name], "unsupported_character")
    assert "U+0000" in problem["msg"]


@pytest.mark.parametrize(
    ("url", "name"),
    [
        (f"/jobs/{JOB}/events?after_seq={MAX_INT4 + 1}", "after_seq"),  # seq is a Postgres integer
        (f"/jobs/{JOB}/events?after_seq=99999999999999999999999", "after_seq"),
        (f"/jobs/{'j' * (MAX_ID_LENGTH + 1)}", "job_id"),
        (f"/jobs/{'j' * (MAX_ID_LENGTH + 1)}/events", "job_id"),
        (f"/batches/{'b' * (MAX_ID_LENGTH + 1)}", "batch_id"),
        (f"/jobs?after={'j' * (MAX_ID_LENGTH + 1)}", "after"),
        (f"/jobs/{JOB}/events?before={'e' * (MAX_ID_LENGTH + 12)}", "before"),
        (f"/jobs/{JOB}/messages?after={'m' * (MAX_ID_LENGTH + 1)}", "after"),
    ],
)
async def test_values_beyond_their_column_are_422(api: RunningApi, url: str, name: str) -> None:
    async with api.client("hostile") as client:
        response = await client.get(url)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][-1] == name


async def test_the_largest_values_that_fit_are_answered(api: RunningApi) -> None:
    longest = "j" * MAX_ID_LENGTH
    async with api.client("hostile") as client:
        events = await client.get(f"/jobs/{JOB}/events", params={"after_seq": MAX_INT4})
        job = await client.get(f"/jobs/{longest}")
        cursor = await client.get("/jobs", params={"after": longest})
    assert (events.status_code, events.json()) == (200, {"events": [], "next_cursor": None})
    assert job.status_code == 404
    assert (cursor.status_code, cursor.json()["detail"]["code"]) == (422, "invalid_cursor")
