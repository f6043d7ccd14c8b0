"""A worker serves its own Prometheus metrics on JOBSTREAM_METRICS_PORT: what it did, scraped from it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.devtools.stack.ports import free_ports
from streams.devtools.stack.stack import LocalStack
from tests.support.pipeline import Pipeline, base_env, unique

pytestmark = pytest.mark.e2e


@pytest.fixture
async def scraped(stack: LocalStack, logs_dir: Path) -> AsyncIterator[tuple[Pipeline, str]]:
    (port,) = free_ports(1)
    pipe = Pipeline(base_env(), logs_dir, JOBSTREAM_METRICS_PORT=str(port))
    pipe.start_worker()
    try:
        await pipe.wait_ready()
        yield pipe, f"http://127.0.0.1:{port}/metrics"
    finally:
        await pipe.close()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_the_worker_serves_what_it_did(scraped: tuple[Pipeline, str]) -> None:
    pipe, url = scraped
    job = unique("metrics")
    await pipe.client.create(job, status="running")
    await pipe.client.transition(job, "created")  # rejected: invalid_transition
    await pipe.client.transition(job, "completed")
    await pipe.events(job, 3)

    async def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        async with httpx.AsyncClient() as client:
            samples = _samples((await client.get(url)).text)
        lag = [key for key in samples if key[0] == "jobstream_consumer_lag"]
        return samples if lag else None  # the lag timer has run once

    samples = await pipe.wait_for(scrape, what="the worker's metrics with its lag")
    # The probe job of wait_ready and this job's two applied commands; one rejection.
    assert samples[("jobstream_commands_total", (("outcome", "applied"),))] >= 3
    assert samples[("jobstream_commands_total", (("outcome", "rejected"),))] >= 1
    assert samples[("jobstream_batch_seconds_count", ())] >= 1
    assert samples[("jobstream_table_writes_total", (("kind", "put"),))] >= 2  # one per job and batch
    lag = {
        dict(labels)["partition"]: value
        for (name, labels), value in samples.items()
        if name == "jobstream_consumer_lag"
    }
    assert set(lag) == {str(p) for p in range(pipe.settings.partitions)} and all(v == 0 for v in lag.values())
