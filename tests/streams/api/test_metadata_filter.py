"""`metadata.KEY=VALUE` on GET /jobs: JSON containment of string values, ANDed, within the organization."""

from __future__ import annotations

from typing import Any

import pytest

from tests.streams.api.harness import RunningApi, insert_jobs, job_row, moments

pytestmark = pytest.mark.e2e

SHAPES: dict[str, dict[str, Any]] = {
    "m-src-1": {"source_id": "src-1"},
    "m-src-1-team": {"source_id": "src-1", "team": "a"},
    "m-src-2": {"source_id": "src-2", "team": "a"},
    "m-number": {"source_id": 1},
    "m-nested": {"outer": {"source_id": "src-1"}},
    "m-dotted": {"a.b": "x"},
    "m-list": {"source_id": ["src-1"]},
    "m-empty": {},
}

CASES: list[tuple[list[tuple[str, str]], set[str]]] = [
    ([("metadata.source_id", "src-1")], {"m-src-1", "m-src-1-team"}),
    ([("metadata.source_id", "src-1"), ("metadata.team", "a")], {"m-src-1-team"}),
    ([("metadata.team", "a")], {"m-src-1-team", "m-src-2"}),
    ([("metadata.source_id", "1")], set()),  # the string "1", not the number 1
    ([("metadata.a.b", "x")], {"m-dotted"}),  # the key is everything after `metadata.`
    ([("metadata.source_id", "src-1"), ("metadata.source_id", "src-2")], set()),  # AND
    ([("metadata.source_id", "src-3")], set()),
    ([("metadata.source_id", "src-1"), ("status", "created")], {"m-src-1", "m-src-1-team"}),
    ([("metadata.source_id", "src-1"), ("status", "running")], set()),
]


@pytest.fixture(scope="module")
async def seeded(api: RunningApi) -> dict[str, str]:
    """The shapes in the `metadata` tenant, and the same metadata in another (which must never show)."""
    rows, real = [], {}
    for tenant in ("metadata", "metadata-other"):
        org = api.tenants[tenant].organization_id
        for (name, metadata), at in zip(SHAPES.items(), moments(len(SHAPES), ties=1), strict=True):
            job_id = f"{name}-{org}"
            rows.append(job_row(job_id, org, at, metadata=metadata))
            if tenant == "metadata":
                real[name] = job_id
    await insert_jobs(api.settings, rows)
    return real


@pytest.mark.parametrize(("params", "expected"), CASES, ids=[str(p) for p, _ in CASES])
async def test_metadata_filter(
    api: RunningApi, seeded: dict[str, str], params: list[tuple[str, str]], expected: set[str]
) -> None:
    async with api.client("metadata") as client:
        response = await client.get("/jobs", params=[*params, ("limit", "1000")])
    assert response.status_code == 200, response.text
    assert {j["id"] for j in response.json()["jobs"]} == {seeded[name] for name in expected}


async def test_pages_of_a_metadata_filter_follow_the_cursor(api: RunningApi, seeded: dict[str, str]) -> None:
    async with api.client("metadata") as client:
        first = (await client.get("/jobs", params={"metadata.team": "a", "limit": 1})).json()
        second = (
            await client.get(
                "/jobs", params={"metadata.team": "a", "limit": 1, "after": first["next_cursor"]}
            )
        ).json()
    assert [j["id"] for j in first["jobs"] + second["jobs"]] == [seeded["m-src-1-team"], seeded["m-src-2"]]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("metadata.", "x", "needs a key"),
        ("metadata.a\x00b", "x", "U+0000"),
        ("metadata.k", "a\x00", "U+0000"),
        ("metadata." + "k" * 257, "x", "at most 256"),
        ("metadata.k", "v" * 1025, "at most 1024"),
    ],
    ids=["empty key", "NUL in key", "NUL in value", "long key", "long value"],
)
async def test_bad_metadata_filters_are_422_naming_the_parameter(
    api: RunningApi, name: str, value: str, says: str
) -> None:
    async with api.client("metadata") as client:
        response = await client.get("/jobs", params={name: value})
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", name[:73]] and says in error["msg"]


async def test_more_than_16_metadata_filters_are_one_422(api: RunningApi) -> None:
    async with api.client("metadata") as client:
        response = await client.get("/jobs", params=[(f"metadata.k{n}", "v") for n in range(500)])
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["query", "metadata"]]
