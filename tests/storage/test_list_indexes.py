"""At 1,000,000 jobs every list filter and every cursor query is served by an index (no Seq Scan on jobs).

The jobs are loaded by COPY into a scratch database between migrations 0003 and the head, so 0004 builds
its indexes on a full table; the statements are the API's own (storage.queries.jobs), explained with
their parameters bound.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import create_engine
from streams.devtools.bench import listing
from streams.devtools.bench.million import Landmarks, landmarks, scratch_database
from streams.devtools.stack.stack import LocalStack
from streams.settings import Settings

pytestmark = pytest.mark.e2e
JOBS = 1_000_000
INDEX_SCANS = {"Index Scan", "Index Only Scan", "Bitmap Index Scan"}


@pytest.fixture(scope="module")
async def loaded(stack: LocalStack, settings: Settings) -> AsyncIterator[tuple[AsyncEngine, Landmarks]]:
    async with scratch_database(settings.postgres_url, f"list_indexes_{uuid.uuid4().hex[:6]}", JOBS) as url:
        engine = create_engine(url)
        try:
            yield engine, await landmarks(url)
        finally:
            await engine.dispose()


def reads_of_jobs(plan: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(node type, index name) of every node that reads the jobs table or one of its indexes."""
    return [
        (node["Node Type"], node.get("Index Name"))
        for node in listing.scans(plan)
        if node.get("Relation Name") == "jobs"
        or str(node.get("Index Name", "")).startswith(("ix_jobs", "jobs_"))
    ]


async def test_each_filter_and_cursor_query_uses_an_index(loaded: tuple[AsyncEngine, Landmarks]) -> None:
    engine, marks = loaded
    problems = []
    for case in listing.cases(marks):
        reads = [reads_of_jobs(plan) for plan in await listing.plans(engine, case)]
        for statement in reads:
            if any(kind == "Seq Scan" for kind, _ in statement):
                problems.append(f"{case.name}: reads the whole table: {statement}")
            elif not any(kind in INDEX_SCANS for kind, _ in statement):
                problems.append(f"{case.name}: no index scan: {statement}")
        used = {index for statement in reads for _, index in statement}
        if case.index is not None and case.index not in used:
            problems.append(f"{case.name}: does not use {case.index} but {used}")
    assert not problems, "\n".join(problems)
