"""Probes and metrics: /healthz, /metrics and /openapi.json."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from streams.api.app import create_api
from streams.api.auth import TokenTable
from tests.streams.api.harness import RunningApi, serving

pytestmark = pytest.mark.e2e


async def test_healthz_ok_when_kafka_and_postgres_answer(api: RunningApi) -> None:
    async with api.client() as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"kafka": "ok", "postgres": "ok"}}


async def test_healthz_503_names_the_dead_dependency(api: RunningApi) -> None:
    nowhere = replace(api.settings, database_url="postgresql://postgres@127.0.0.1:9/jobstream")
    async with serving(create_api(nowhere, TokenTable({}))) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["checks"]["kafka"] == "ok"
    assert body["checks"]["postgres"].startswith("error:")


async def test_metrics_are_the_apis_own_with_the_worker_groups_lag(api: RunningApi) -> None:
    async with api.client("commands") as client:
        await client.post("/commands", json={"type": "create", "job_id": "j", "metadata": []})  # refused
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert "# TYPE jobstream_commands_group_lag gauge" in lines
    assert any(line.startswith('jobstream_commands_group_lag{partition="0"}') for line in lines)
    refused = next(
        line for line in lines if line.startswith('jobstream_api_commands_total{outcome="refused"}')
    )
    assert float(refused.split()[-1]) >= 1
    assert any(line.startswith("python_info") for line in lines)
    # The worker's series live in the worker processes: here they could only ever read 0.
    assert not any(line.startswith(("jobstream_commands_total", "jobstream_batch_size")) for line in lines)


async def test_openapi_documents_every_endpoint(api: RunningApi) -> None:
    async with api.client() as client:
        document = (await client.get("/openapi.json")).json()
    paths = document["paths"]
    for path in ("/jobs", "/jobs/{job_id}", "/jobs/{job_id}/events", "/jobs/{job_id}/messages"):
        assert "get" in paths[path]
    assert "202" in paths["/commands"]["post"]["responses"]
    assert {p["name"] for p in paths["/jobs"]["get"]["parameters"]} >= {
        "status", "job_type", "agent_id", "stop_reason", "background", "batch_id", "organization_id",
        "before", "after", "limit", "ascending",
    }  # fmt: skip
    assert "HTTPBearer" in document["components"]["securitySchemes"]
