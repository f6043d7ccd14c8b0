"""GET /stats: counts and percentile_cont duration percentiles, checked against the rows' own figures."""

from __future__ import annotations

import secrets
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from storage.migrate import upgrade
from streams.api.app import create_api
from streams.api.auth import TokenTable
from streams.settings import Settings
from tests.streams.api.harness import RunningApi, insert_jobs, job_row, serving
from tests.support.pipeline import Pipeline, create_database, unique

pytestmark = pytest.mark.e2e

START = datetime(2025, 3, 1, tzinfo=UTC)
# (job_type, status, stop_reason, seconds it took or None, total_duration_ns or None), one job a minute
SHAPES: list[tuple[str, str, str | None, float | None, int | None]] = [
    ("run", "completed", "end_turn", 1.0, 900_000_000),
    ("run", "completed", "end_turn", 2.0, 1_800_000_000),
    ("run", "completed", "end_turn", 4.0, None),
    ("run", "failed", "llm_api_error", 8.0, 7_000_000_000),
    ("run", "running", None, None, None),
    ("job", "completed", None, 16.0, None),
    ("job", "cancelled", "user_cancelled", 0.5, None),
    ("batch", "pending", None, None, None),
]


def percentile(values: list[float], p: float) -> float:
    """percentile_cont: linear interpolation between the closest ranks."""
    ordered = sorted(values)
    at = p * (len(ordered) - 1)
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def spread(values: list[float]) -> dict[str, Any]:
    return {"count": len(values), **{f"p{round(p * 100)}": percentile(values, p) for p in (0.5, 0.9, 0.99)}}


@pytest.fixture(scope="module")
async def seeded(api: RunningApi) -> list[dict[str, Any]]:
    org = api.tenants["stats"].organization_id
    rows = []
    for n, (kind, status, reason, seconds, total_ns) in enumerate(SHAPES):
        at = START + timedelta(minutes=n)
        done = at + timedelta(seconds=seconds) if seconds is not None else None
        rows.append(
            job_row(
                f"s-{secrets.token_hex(6)}",
                org,
                at,
                job_type=kind,
                status=status,
                stop_reason=reason,
                completed_at=done,
                total_duration_ns=total_ns,
            )
        )
    await insert_jobs(api.settings, rows)
    return rows


def expected(rows: list[dict[str, Any]]) -> dict[str, Any]:
    walls = [(r["completed_at"] - r["created_at"]).total_seconds() for r in rows if r["completed_at"]]
    totals = [float(r["total_duration_ns"]) for r in rows if r["total_duration_ns"] is not None]
    return {
        "total": len(rows),
        "by_status": dict(Counter(r["status"] for r in rows)),
        "by_job_type": dict(Counter(r["job_type"] for r in rows)),
        "by_stop_reason": dict(Counter(r["stop_reason"] for r in rows if r["stop_reason"])),
        "duration_s": spread(walls),
        "total_duration_ns": spread(totals),
    }


async def stats(api: RunningApi, **params: Any) -> dict[str, Any]:
    async with api.client("stats") as client:
        response = await client.get("/stats", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


SPREADS = ("duration_s", "total_duration_ns")


def close(found: dict[str, Any], wanted: dict[str, Any]) -> None:
    """Counts exactly; percentiles to floating-point precision (Postgres and Python interpolate alike)."""
    assert {k: v for k, v in found.items() if k not in SPREADS} == {
        k: v for k, v in wanted.items() if k not in SPREADS
    }
    for name in SPREADS:
        assert found[name] == pytest.approx(wanted[name], rel=1e-9), name


async def test_stats_of_the_whole_organization(api: RunningApi, seeded: list[dict[str, Any]]) -> None:
    close(await stats(api), expected(seeded))


async def test_stats_of_a_filter(api: RunningApi, seeded: list[dict[str, Any]]) -> None:
    runs = [r for r in seeded if r["job_type"] == "run"]
    close(await stats(api, job_type="run"), expected(runs))
    slow = [
        r for r in seeded if r["completed_at"] and r["completed_at"] - r["created_at"] > timedelta(seconds=3)
    ]
    close(await stats(api, duration_gt=3), expected(slow))


async def test_the_window_is_half_open_on_created_at(api: RunningApi, seeded: list[dict[str, Any]]) -> None:
    after, before = START + timedelta(minutes=2), START + timedelta(minutes=5)
    inside = [r for r in seeded if after <= r["created_at"] < before]
    assert len(inside) == 3
    close(
        await stats(api, created_after=after.isoformat(), created_before=before.isoformat()), expected(inside)
    )


async def test_nothing_selected_is_zeros_and_nulls(api: RunningApi, seeded: list[dict[str, Any]]) -> None:
    empty = {"count": 0, "p50": None, "p90": None, "p99": None}
    assert await stats(api, **{"metadata.none": "x"}) == {
        "total": 0,
        "by_status": {},
        "by_job_type": {},
        "by_stop_reason": {},
        "duration_s": empty,
        "total_duration_ns": empty,
    }


async def test_other_organizations_jobs_are_not_counted(
    api: RunningApi, seeded: list[dict[str, Any]]
) -> None:
    async with api.client("a") as client:
        found = (
            await client.get(
                "/stats",
                params={
                    "created_before": (START + timedelta(hours=1)).isoformat(),
                    "created_after": START.isoformat(),
                },
            )
        ).json()
    assert found["total"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"created_after": "2025-03-01T00:00:00"},  # no offset
        {"created_after": "0999-12-31T23:00:00Z"},
        {"created_before": "9999-12-31T23:59:59-14:00"},
        {"created_before": "yesterday"},
    ],
)
async def test_bad_windows_are_422_naming_the_parameter(api: RunningApi, params: dict[str, str]) -> None:
    async with api.client("stats") as client:
        response = await client.get("/stats", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", next(iter(params))]


async def test_counting_past_the_statement_timeout_is_503_saying_what_to_narrow(
    api: RunningApi, pipeline: Pipeline
) -> None:
    """Statistics read every job they count; past `statement_timeout` the answer is a 503 with the way
    out, not a 500. The jobs table is held locked, so the count waits out a 0.2 s timeout."""
    name = unique("stats_timeout").replace("-", "_")
    url = create_database(pipeline.settings.postgres_url, name)
    upgrade(url)
    env = {**pipeline.env, "DATABASE_URL": url, "JOBSTREAM_PG_STATEMENT_TIMEOUT_S": "0.2"}
    tenant = api.tenants["stats"]
    app = create_api(Settings.from_env(env), TokenTable({tenant.token: "org"}))
    locker = await asyncpg.connect(url)
    try:
        async with serving(app) as base, httpx.AsyncClient(base_url=base, headers=tenant.headers) as client:
            assert (await client.get("/stats")).status_code == 200
            async with locker.transaction():
                await locker.execute("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE")
                response = await client.get("/stats", params={"job_type": "run"})
    finally:
        await locker.close()
        server = await asyncpg.connect(pipeline.settings.postgres_url)
        await server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await server.close()
    assert response.status_code == 503, response.text
    detail = response.json()["detail"]
    assert detail["code"] == "too_slow" and "narrow the filters" in detail["message"]
