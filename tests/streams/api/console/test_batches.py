"""The console's batch page: item progress by provider result and by child job status."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.streams.api.console.browsing import rows, signed_in
from tests.streams.api.harness import RunningApi
from tests.streams.api.test_batches import progressed_batch
from tests.support.rows import AddJob


async def test_the_batch_page_counts_items_by_result_and_status(
    api: RunningApi, engine: AsyncEngine, add_job: AddJob
) -> None:
    batch_id = await progressed_batch(engine, add_job, api.tenants["console"].organization_id)
    async with signed_in(api, "console") as client:
        page = await client.get(f"/ui/batches/{batch_id}")
        assert page.status_code == 200
        assert "4 items." in page.text and "Status running" in page.text
        assert dict(map(tuple, rows(page.text, "results"))) == {
            "errored": "1",
            "pending": "2",
            "succeeded": "1",
        }
        assert dict(map(tuple, rows(page.text, "job-statuses"))) == {
            "completed": "1",
            "created": "1",
            "failed": "1",
            "missing": "1",
        }
        assert (await client.get("/ui/batches/no-such-batch")).status_code == 404
    async with signed_in(api, "console-other") as client:
        assert (await client.get(f"/ui/batches/{batch_id}")).status_code == 404
