"""A million synthetic jobs by COPY into a scratch database, for the list-index test and `bench --list`.

The shape is a large deployment's: most jobs in one organization (the one queried), runs of 2,000 agents,
a few batches with items, a rare stop reason, `source_id` metadata shared by a few dozen jobs each, and
finished jobs with a duration. The rows are loaded between migrations 0003 and the head, so the newest
indexes are built by the migration itself, on a full table, as a deployment upgrading would build them.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
from sqlalchemy.engine import make_url

from storage.migrate import upgrade

ORG = "org-0"  # the organization the cases query: 60 % of the jobs
OTHER_ORGS = 20
AGENTS = 2_000
SOURCES = 20_000
RARE_STOP_REASON = "max_tokens_exceeded"  # one terminal job in 2,000
START = datetime(2026, 1, 1, tzinfo=UTC)
COLUMNS = (
    "id",
    "job_type",
    "status",
    "seq",
    "stop_reason",
    "metadata",
    "organization_id",
    "agent_id",
    "background",
    "batch_id",
    "total_duration_ns",
    "created_at",
    "updated_at",
    "completed_at",
)
# (status, share, stop reason of the terminal ones)
STATUSES = (
    ("completed", 0.80, "end_turn"),
    ("failed", 0.08, "error"),
    ("cancelled", 0.03, "cancelled"),
    ("expired", 0.01, "timeout_exceeded"),
    ("running", 0.05, None),
    ("pending", 0.02, None),
    ("created", 0.01, None),
)


@dataclass(frozen=True)
class Landmarks:
    """Values the cases filter by, picked from the loaded rows so that each filter matches something."""

    agent_ids: tuple[str, str]
    batch_id: str
    source_id: str
    cursor_id: str  # a finished job of ORG in the middle of the table: cursors for both orders


def rows(count: int, seed: int = 14) -> Iterator[tuple[object, ...]]:
    """`count` job rows in COLUMNS order, created 2.5 s apart with ties, ids not in creation order."""
    rng = random.Random(seed)
    statuses = [s for s, _, _ in STATUSES]
    weights = [w for _, w, _ in STATUSES]
    stops = {s: reason for s, _, reason in STATUSES}
    batch = "batch-0"
    for n in range(count):
        org = ORG if rng.random() < 0.6 else f"org-{rng.randrange(1, OTHER_ORGS + 1)}"
        kind = rng.choices(("run", "job", "batch"), (0.6, 0.39, 0.01))[0]
        status = rng.choices(statuses, weights)[0]
        created = START + timedelta(seconds=(n // 2) * 5)  # pairs share a moment: ties fall to the id
        done = stops[status] is not None
        took = timedelta(seconds=rng.expovariate(1 / 30))
        stop = stops[status]
        if stop is not None and rng.random() < 0.0005:
            stop = RARE_STOP_REASON
        job_id = f"{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}-{n}"
        if kind == "batch":
            batch = job_id
        metadata = {"source_id": f"src-{rng.randrange(SOURCES)}"} if rng.random() < 0.5 else {}
        yield (
            job_id,
            kind,
            status,
            3,
            stop,
            orjson.dumps(metadata).decode(),
            org,
            f"agent-{rng.randrange(AGENTS)}" if kind == "run" else None,
            (rng.random() < 0.1) if kind == "run" else None,
            batch if kind == "job" and rng.random() < 0.05 else None,
            int(took.total_seconds() * 0.9e9) if done and kind == "run" else None,
            created,
            created + took if done else created,
            created + took if done else None,
        )


async def load(url: str, count: int) -> None:
    """COPY `count` rows into `jobs` (binary, one stream), then ANALYZE so plans see the real shape."""
    connection = await asyncpg.connect(url)
    try:
        await connection.copy_records_to_table("jobs", records=rows(count), columns=COLUMNS)
    finally:
        await connection.close()


async def landmarks(url: str) -> Landmarks:
    """Filter values that occur in ORG (found by the indexes under test, so this is quick)."""
    connection = await asyncpg.connect(url)
    try:
        agents = await connection.fetch(
            "SELECT DISTINCT agent_id FROM jobs WHERE organization_id = $1 AND agent_id IN ($2, $3)",
            ORG,
            "agent-7",
            "agent-1234",
        )
        batch = await connection.fetchval(
            "SELECT batch_id FROM jobs WHERE organization_id = $1 AND batch_id IS NOT NULL "
            "ORDER BY created_at DESC LIMIT 1",
            ORG,
        )
        source = await connection.fetchval(
            "SELECT metadata->>'source_id' FROM jobs WHERE organization_id = $1 AND metadata @> $2::jsonb",
            ORG,
            '{"source_id": "src-42"}',
        )
        middle = await connection.fetchval(
            "SELECT id FROM jobs WHERE organization_id = $1 AND completed_at IS NOT NULL "
            "AND created_at >= $2 ORDER BY created_at, id LIMIT 1",
            ORG,
            START + timedelta(days=14),
        )
    finally:
        await connection.close()
    found = tuple(sorted(r["agent_id"] for r in agents))
    if len(found) != 2 or batch is None or source is None or middle is None:
        raise RuntimeError("the loaded jobs lack the landmarks the cases need; load more jobs")
    return Landmarks((found[0], found[1]), batch, source, middle)


@asynccontextmanager
async def scratch_database(server_url: str, name: str, count: int) -> AsyncIterator[str]:
    """A new database `name` on the server of `server_url`, migrated, holding `count` jobs; dropped on
    exit. Yields its URL."""
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            upgrade(url, "0003")
            await load(url, count)
            upgrade(url)  # 0004's indexes built on the full table
            analyzed = await asyncpg.connect(url)
            try:
                await analyzed.execute("VACUUM ANALYZE jobs")
            finally:
                await analyzed.close()
            yield url
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
