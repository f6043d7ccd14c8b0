"""Every list filter and cursor at a million jobs: the plans (no Seq Scan on jobs) and the latency per filter.

`jobstream bench --list-jobs N` prints the latency; tests/storage/test_list_indexes.py asserts the plans.
Both run the statements the API runs (storage.queries.jobs), over the rows of `million`.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import ClauseElement, Executable
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.compiler import compiles

from schemas.vocabulary import ListOrder
from storage.database import create_engine
from storage.queries.jobs import JobFilter, PageRequest, cursor_query, list_jobs, page_query
from streams.devtools.bench.million import ORG, RARE_STOP_REASON, Landmarks, landmarks, scratch_database

SAMPLES = 200
WARM_UP = 5
AGENT_INDEX = "ix_jobs_org_agent_created"


@dataclass(frozen=True)
class Case:
    name: str
    filters: JobFilter
    page: PageRequest
    index: str | None = None  # the index it must use, where the data leave the planner no better choice


def cases(marks: Landmarks) -> list[Case]:
    """Each filter alone, first page and a page on either side of a cursor in the middle of the table."""
    duration = PageRequest(order_by=ListOrder.DURATION, ascending=False)
    alone = [
        Case("no filter", JobFilter(), PageRequest()),
        Case("status=running", JobFilter(statuses=["running"]), PageRequest(), "ix_jobs_org_status_created"),
        Case("status=pending,running", JobFilter(statuses=["pending", "running"]), PageRequest()),
        Case("job_type=batch", JobFilter(job_type="batch"), PageRequest(), "ix_jobs_org_type_created"),
        Case(
            f"stop_reason={RARE_STOP_REASON}",
            JobFilter(stop_reason=RARE_STOP_REASON),
            PageRequest(),
            "ix_jobs_org_stop_created",
        ),
        Case("agent_id (one)", JobFilter(agent_ids=marks.agent_ids[:1]), PageRequest(), AGENT_INDEX),
        Case("agent_id (two)", JobFilter(agent_ids=marks.agent_ids), PageRequest(), AGENT_INDEX),
        Case("background=true", JobFilter(background=True), PageRequest(), "ix_jobs_org_background_created"),
        Case("batch_id", JobFilter(batch_id=marks.batch_id), PageRequest(), "ix_jobs_org_batch_created"),
        Case(
            "metadata.source_id",
            JobFilter(metadata=[("source_id", marks.source_id)]),
            PageRequest(),
            "ix_jobs_metadata",
        ),
        Case("duration_gt=60", JobFilter(duration_gt=timedelta(seconds=60)), PageRequest()),
        Case("duration_lt=0.1", JobFilter(duration_lt=timedelta(seconds=0.1)), PageRequest()),
        Case("order_by=duration desc", JobFilter(), duration, "ix_jobs_org_duration"),
        Case("agent_id (two), by duration", JobFilter(agent_ids=marks.agent_ids), duration, AGENT_INDEX),
    ]
    paged = []
    for case in alone:
        paged.append(
            replace(case, name=f"{case.name}, after", page=replace(case.page, after=marks.cursor_id))
        )
        paged.append(
            replace(case, name=f"{case.name}, before", page=replace(case.page, before=marks.cursor_id))
        )
    return alone + paged


class Explain(Executable, ClauseElement):
    """`EXPLAIN (FORMAT JSON)` of a statement, its parameters bound as the API binds them."""

    inherit_cache = False

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement


@compiles(Explain)
def _explain(element: Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


def scans(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of a plan, depth first."""
    yield plan
    for child in plan.get("Plans", ()):
        yield from scans(child)


async def plans(engine: AsyncEngine, case: Case) -> list[dict[str, Any]]:
    """The plans of the case's statements: the page, and the cursor check an empty page makes."""
    statements: list[Any] = [page_query(ORG, case.filters, case.page)]
    lookup = cursor_query(ORG, case.page)
    if lookup is not None:
        statements.append(lookup)
    found = []
    async with engine.connect() as connection:
        for statement in statements:
            document = (await connection.execute(Explain(statement))).scalar_one()
            found.append((orjson.loads(document) if isinstance(document, str) else document)[0]["Plan"])
    return found


async def latency(engine: AsyncEngine, case: Case, samples: int = SAMPLES) -> dict[str, float]:
    """p50/p99 of `list_jobs` (cursor lookup, page, rows decoded) as the API calls it, in ms."""
    for _ in range(WARM_UP):
        await list_jobs(engine, ORG, case.filters, case.page)
    took = []
    for _ in range(samples):
        start = time.perf_counter()
        await list_jobs(engine, ORG, case.filters, case.page)
        took.append((time.perf_counter() - start) * 1000)
    cuts = statistics.quantiles(took, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49], 2), "p99_ms": round(cuts[98], 2)}


async def run(server_url: str, jobs: int, samples: int = SAMPLES) -> dict[str, Any]:
    """Load `jobs` into a scratch database (dropped afterwards) and time every case."""
    name = f"jobstream_list_{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    async with scratch_database(server_url, name, jobs) as url:
        loaded_s = time.monotonic() - started
        engine = create_engine(url)
        try:
            marks = await landmarks(url)
            figures = {case.name: await latency(engine, case, samples) for case in cases(marks)}
        finally:
            await engine.dispose()
    return {"jobs": jobs, "organization_share": 0.6, "load_s": round(loaded_s, 1), "cases": figures}
