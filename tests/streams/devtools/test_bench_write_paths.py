"""`jobstream bench --write-paths`: both paths measured as named, and nothing left behind."""

from __future__ import annotations

import asyncpg
import pytest

from streams.devtools.bench import write_paths
from streams.devtools.stack.stack import LocalStack
from streams.settings import Settings

pytestmark = pytest.mark.e2e


async def test_each_path_is_timed_and_its_jobs_removed(stack: LocalStack, settings: Settings) -> None:
    before = await _bench_jobs(settings)
    figures = await write_paths.run(settings, 20)  # raises if a batch took the other path
    assert figures["batches"] == 20
    for path in write_paths.PATHS:
        assert 0 < figures[f"{path}_p50_ms"] <= figures[f"{path}_p90_ms"]
    assert figures["ratio_locked_to_unchanged"] == round(
        figures["locked_p50_ms"] / figures["unchanged_p50_ms"], 2
    )
    assert await _bench_jobs(settings) == before


async def _bench_jobs(settings: Settings) -> int:
    pg = await asyncpg.connect(settings.postgres_url)
    try:
        return int(await pg.fetchval("SELECT count(*) FROM job_events WHERE job_id LIKE 'w%-unchanged-%'"))
    finally:
        await pg.close()
