"""`GET /batches/{id}` and `jobstream batches show` against an API served in-process (docs/contract.md §8)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.batch_results import BatchPollResult, RequestCounts
from storage.queries.batch_cancels import CancelRequest, finish_cancel, record_cancel, request_cancels
from storage.queries.batches import record_provider_state, store_item_results
from storage.tables import batch_cancels
from streams.api.app import create_api
from streams.api.auth import TokenTable
from tests.streams.api.harness import Tenant, serving
from tests.streams.cli.runner import jobstream
from tests.support.pipeline import Pipeline, base_env, unique
from tests.support.poll_results import poll_result
from tests.support.rows import NOW, AddJob, add_batch, result

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class BatchesApi:
    url: str
    mine: Tenant
    other: Tenant

    def client(self, tenant: Tenant | None) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers=tenant.headers if tenant else {}, timeout=30)


@pytest.fixture(scope="module")
async def batches_api(pipeline: Pipeline) -> AsyncIterator[BatchesApi]:
    """Our own tenants, so these batch rows never appear in another test's listings."""
    mine, other = (Tenant(unique("org-batches"), secrets.token_urlsafe(16)) for _ in range(2))
    tokens = TokenTable({mine.token: mine.organization_id, other.token: other.organization_id})
    async with serving(create_api(pipeline.settings, tokens)) as url:
        yield BatchesApi(url, mine, other)


async def progressed_batch(engine: AsyncEngine, add_job: AddJob, organization_id: str) -> str:
    """Three items: two with a result and a terminal child, one still waiting; plus one orphan."""
    statuses = ["completed", "failed", "created"]
    children = {f"c{n}": await add_job("apichild", status=s) for n, s in enumerate(statuses)}
    batch_id = await add_batch(
        engine,
        add_job,
        {**children, "gone": "no-such-job"},
        organization_id=organization_id,
        status="running",
    )
    done = [result(batch_id, "c0", "succeeded"), result(batch_id, "c1", "errored")]
    await store_item_results(engine, batch_id, done, NOW)
    return batch_id


async def test_progress_by_result_and_child_status(
    batches_api: BatchesApi, engine: AsyncEngine, add_job: AddJob
) -> None:
    batch_id = await progressed_batch(engine, add_job, batches_api.mine.organization_id)
    async with batches_api.client(batches_api.mine) as http:
        response = await http.get(f"/batches/{batch_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["id"], body["status"], body["total_items"]) == (batch_id, "running", 4)
        assert body["results"] == {"succeeded": 1, "errored": 1, "pending": 2}
        assert body["job_statuses"] == {"completed": 1, "failed": 1, "created": 1, "missing": 1}
        assert body["provider_state"] is None and body["provider_cancel"] is None, (
            "never polled, not cancelled"
        )
        assert (await http.get("/batches/no-such-batch")).status_code == 404
    async with batches_api.client(batches_api.other) as http:
        assert (await http.get(f"/batches/{batch_id}")).status_code == 404, "another organization's batch"
    async with batches_api.client(None) as http:
        assert (await http.get(f"/batches/{batch_id}")).status_code == 401


async def test_cli_shows_progress(batches_api: BatchesApi, engine: AsyncEngine, add_job: AddJob) -> None:
    batch_id = await progressed_batch(engine, add_job, batches_api.mine.organization_id)
    env = {**base_env(), "JOBSTREAM_API_URL": batches_api.url, "JOBSTREAM_API_TOKEN": batches_api.mine.token}

    as_json = await jobstream("batches", "show", batch_id, "--json", env=env)
    assert as_json.code == 0, as_json.stderr
    assert as_json.json()["results"] == {"succeeded": 1, "errored": 1, "pending": 2}

    shown = await jobstream("batches", "show", batch_id, env=env)
    assert shown.code == 0, shown.stderr
    assert "2/4 recorded" in shown.stdout and "status=running" in shown.stdout

    missing = await jobstream("batches", "show", "no-such-batch", env=env)
    assert missing.code == 1 and "error:" in missing.stderr and "hint:" in missing.stderr


async def test_the_cancel_owed_to_the_provider_is_shown(
    batches_api: BatchesApi, engine: AsyncEngine, add_job: AddJob
) -> None:
    batch_id = await progressed_batch(engine, add_job, batches_api.mine.organization_id)
    concluded = await progressed_batch(engine, add_job, batches_api.mine.organization_id)
    refusal = "openai cancel answered 400 ([bold]no[/bold])"
    try:
        await request_cancels(engine, [CancelRequest(batch_id, "openai", "batch_1")], NOW)
        await record_cancel(engine, batch_id, "refused", refusal)
        await finish_cancel(engine, CancelRequest(concluded, "openai", "batch_2"))  # a marker, no cancel
        async with batches_api.client(batches_api.mine) as http:
            shown = (await http.get(f"/batches/{batch_id}")).json()["provider_cancel"]
            marker = (await http.get(f"/batches/{concluded}")).json()["provider_cancel"]
        assert (shown["outcome"], shown["error"], shown["attempts"]) == ("refused", refusal, 0)
        assert shown["outcome_at"] is not None and shown["finished_at"] is None and marker is None
        env = {
            **base_env(),
            "JOBSTREAM_API_URL": batches_api.url,
            "JOBSTREAM_API_TOKEN": batches_api.mine.token,
        }
        printed = await jobstream("batches", "show", batch_id, env=env)
        assert printed.code == 0 and f"provider cancel: refused  ({refusal})" in printed.stdout
    finally:
        async with engine.begin() as connection:
            await connection.execute(
                delete(batch_cancels).where(batch_cancels.c.batch_id.in_([batch_id, concluded]))
            )


async def test_what_the_provider_last_said_is_shown(
    batches_api: BatchesApi, engine: AsyncEngine, add_job: AddJob
) -> None:
    batch_id = await progressed_batch(engine, add_job, batches_api.mine.organization_id)
    counts = RequestCounts(processing=3, succeeded=1)
    later = poll_result(batch_id, polled_at=NOW + timedelta(seconds=5), request_counts=counts)
    await record_provider_state(engine, later)
    await record_provider_state(engine, poll_result(batch_id, polled_at=NOW, request_counts=RequestCounts()))
    async with batches_api.client(batches_api.mine) as http:
        state = (await http.get(f"/batches/{batch_id}")).json()["provider_state"]
    assert (state["provider_status"], state["outcome"]) == ("in_progress", None), "an older poll never wins"
    assert state["request_counts"] == {
        "processing": 3,
        "succeeded": 1,
        "errored": 0,
        "canceled": 0,
        "expired": 0,
    }
    env = {**base_env(), "JOBSTREAM_API_URL": batches_api.url, "JOBSTREAM_API_TOKEN": batches_api.mine.token}
    printed = await jobstream("batches", "show", batch_id, env=env)
    assert "provider says: in_progress  processing 3, succeeded 1" in printed.stdout

    ended = later.model_dump() | {
        "provider_status": "ended",
        "ended": True,
        "outcome": "expired",
        "total_items": 0,
        "polled_at": NOW + timedelta(seconds=9),
    }
    await record_provider_state(engine, BatchPollResult.model_validate(ended))
    async with batches_api.client(batches_api.mine) as http:
        state = (await http.get(f"/batches/{batch_id}")).json()["provider_state"]
    assert (state["provider_status"], state["outcome"]) == ("ended", "expired")
