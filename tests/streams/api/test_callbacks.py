"""GET /jobs/{id}/callbacks: a job's deliveries with their endpoint's circuit breaker (docs/contract.md §7),
its rows written by the dispatcher's own statements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage.callback_endpoints import EndpointStore
from storage.callback_queue import DeliveryStore, NewDelivery
from storage.database import create_engine
from tests.streams.api.harness import RunningApi, insert_jobs, job_row
from tests.support.pipeline import unique

pytestmark = pytest.mark.e2e


async def test_a_deferred_delivery_shows_its_endpoints_breaker(api: RunningApi) -> None:
    owner = api.tenants["commands"].organization_id
    job_id = unique("cb-api")
    now = datetime.now(UTC)
    await insert_jobs(api.settings, [job_row(job_id, owner, now, status="completed", seq=2)])
    # A deployment of its own, so the session worker's dispatcher never claims the row.
    deployment = unique("cb-api-app")
    engine = create_engine(api.settings.postgres_url)
    try:
        deliveries, endpoints = DeliveryStore(engine, deployment), EndpointStore(engine, deployment)
        url = "https://Hooks.Example.test:8443/hook?x=1"
        await deliveries.add([NewDelivery(f"{job_id}:2", job_id, owner, url, {"job_id": job_id})])
        await endpoints.failed(
            "https://hooks.example.test:8443", "hooks.example.test", f"{job_id}:2",
            failures_to_open=1, open_s=30, disable_after_s=3600, error="HTTP 503",
        )  # fmt: skip
        [claimed] = await deliveries.claim(10, lease_s=30)
        assert await deliveries.defer(claimed, now + timedelta(seconds=30))

        async with api.client("commands") as client:
            response = await client.get(f"/jobs/{job_id}/callbacks")
            assert response.status_code == 200, response.text
            [shown] = response.json()["callbacks"]
            assert (shown["event_id"], shown["url"], shown["state"]) == (f"{job_id}:2", url, "pending")
            assert (shown["attempts"], shown["deferred"], shown["endpoint_state"]) == (0, True, "open")
            assert datetime.fromisoformat(shown["next_probe_at"]) > now
            await endpoints.succeeded("https://hooks.example.test:8443")
            [closed] = (await client.get(f"/jobs/{job_id}/callbacks")).json()["callbacks"]
            assert (closed["endpoint_state"], closed["next_probe_at"]) == ("closed", None)
        async with api.client("b") as stranger:
            assert (await stranger.get(f"/jobs/{job_id}/callbacks")).status_code == 404
    finally:
        async with engine.begin() as connection:
            for table in ("callback_deliveries", "callback_endpoints"):
                await connection.exec_driver_sql(f"DELETE FROM {table} WHERE app_id = $1", (deployment,))
        await engine.dispose()
