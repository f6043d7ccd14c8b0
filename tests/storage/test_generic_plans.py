"""The worker's connections plan each statement once (generic plans), and every statement it runs is still
served by an index under such a plan.

A generic plan cannot match a partial index whose predicate the statement states with a parameter
(`state = $1` against `WHERE state = 'pending'`), so such a statement would read the whole table on
every call. Sequential scans are priced out here, so any that remains has no index to use."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy.dialects.postgresql import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

import storage.callback_queue
import storage.job_store
import storage.purge
from storage.database import create_engine, raw_connection
from storage.queries import expiry, retention
from streams.devtools.bench.listing import scans

pytestmark = pytest.mark.e2e
LARGE_TABLES = {"jobs", "job_events", "job_rejections", "job_messages", "callback_deliveries", "batch_items"}

# The statement's placeholders stay unbound (a prepared EXPLAIN would want values for them).
GENERIC_PLAN = (
    "CREATE FUNCTION pg_temp.generic_plan(statement text) RETURNS text LANGUAGE plpgsql AS $body$"
    " DECLARE plan text; BEGIN"
    " EXECUTE 'EXPLAIN (GENERIC_PLAN, FORMAT JSON) ' || statement INTO plan; RETURN plan; END $body$"
)


@pytest.fixture
async def worker_engine(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """An engine made as the worker's runtime makes its own."""
    made = create_engine(engine.url.render_as_string(hide_password=False), pool_size=1, generic_plans=True)
    yield made
    await made.dispose()


def worker_statements() -> Iterator[tuple[str, str]]:
    """(name, SQL) of every statement the command path, the callback queue and the purge keep as text,
    and the expiry and retention scans compiled as the asyncpg dialect sends them."""
    modules: list[ModuleType] = [storage.job_store, storage.callback_queue, storage.purge]
    for module in modules:
        for name, value in vars(module).items():
            texts = value if isinstance(value, tuple) else (value,)
            for i, text in enumerate(texts):
                if name.isupper() and not name.startswith("_") and isinstance(text, str) and "$1" in text:
                    yield f"{module.__name__}.{name}[{i}]", text
    now = datetime.now(UTC)
    scans_by_name = {
        "expiry.due_query": expiry.due_query(now, 10),
        "expiry.retry_due_query": expiry.retry_due_query(now, 10),
        "expiry.heartbeat_due_query": expiry.heartbeat_due_query(now, 10),
        "retention.finished_query": retention.finished_query(now, 10, (now, "a")),
    }
    for name, query in scans_by_name.items():
        yield name, str(query.compile(dialect=asyncpg.dialect()))


async def test_the_worker_engine_uses_generic_plans(worker_engine: AsyncEngine) -> None:
    async with raw_connection(worker_engine) as pg:
        assert await pg.fetchval("SHOW plan_cache_mode") == "force_generic_plan"


async def test_every_worker_statement_has_an_index_under_a_generic_plan(worker_engine: AsyncEngine) -> None:
    statements = list(worker_statements())
    assert len(statements) >= 10, statements  # the scan found the statements
    problems = []
    async with raw_connection(worker_engine) as pg, pg.transaction():
        await pg.execute("SET LOCAL enable_seqscan = off")
        await pg.execute(GENERIC_PLAN)
        for name, sql in statements:
            explained = await pg.fetchval("SELECT pg_temp.generic_plan($1)", sql)
            plan: dict[str, Any] = json.loads(explained)[0]["Plan"]
            whole = [n["Relation Name"] for n in scans(plan) if n["Node Type"] == "Seq Scan"]
            if LARGE_TABLES & set(whole):
                problems.append(f"{name} reads the whole of {sorted(LARGE_TABLES & set(whole))}")
    assert not problems, problems


async def test_a_plan_made_on_an_empty_table_is_made_again_once_old(engine: AsyncEngine) -> None:
    """A new deployment's first plans see empty tables; the worker must not keep reading the whole
    table once it has grown (until autovacuum happens to analyze it)."""
    url = engine.url.render_as_string(hide_password=False)
    # The first block must finish within the age (a loaded CI machine took under a second).
    made = create_engine(url, pool_size=1, max_overflow=0, generic_plans=True, generic_plan_max_age_s=3)

    async def lookup_plan(pg: Any) -> str:
        return "\n".join(r[0] for r in await pg.fetch("EXPLAIN EXECUTE lookup('17')"))

    try:
        async with raw_connection(made) as pg:  # pool_size=1: every checkout below is this session
            await pg.execute("CREATE TEMP TABLE young (id text PRIMARY KEY, payload text)")
            await pg.execute("ANALYZE young")  # as autovacuum leaves a new, empty table: 0 rows, 0 pages
            await pg.execute("PREPARE lookup(text) AS SELECT payload FROM young WHERE id = $1")
            assert "Seq Scan" in await lookup_plan(pg)
            await pg.execute("INSERT INTO young SELECT g::text, 'x' FROM generate_series(1, 20000) g")
        async with raw_connection(made) as pg:  # within the age: the plan made on no rows is kept
            assert "Seq Scan" in await lookup_plan(pg)
        await asyncio.sleep(3.1)
        async with raw_connection(made) as pg:
            plan = await lookup_plan(pg)
            assert "Index Scan using young_pkey" in plan, plan
    finally:
        await made.dispose()
