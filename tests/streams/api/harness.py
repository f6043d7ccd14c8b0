"""The API under test: served by uvicorn in this event loop, on a free port, with per-test tenants."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Table, insert

from storage.database import create_engine
from storage.tables import jobs
from streams.api.app import create_api
from streams.api.auth import TokenTable
from streams.settings import Settings
from tests.support.pipeline import Pipeline, unique

# One tenant per test concern, so rows another test wrote can never show up in a listing.
TENANTS = (
    "a",
    "b",
    "pages",
    "filters",
    "metadata",
    "metadata-other",
    "durations",
    "stats",
    "commands",
    "cli",
    "history",
    "hostile",
    "fuzz",
    "letta-list",
    "letta-pages",
    "letta-delete",
    "console",
    "console-other",
    "console-actions",
    "console-live",
    "console-browser",
)


@dataclass(frozen=True)
class Tenant:
    organization_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class RunningApi:
    url: str
    settings: Settings
    tenants: dict[str, Tenant] = field(default_factory=dict)

    def client(self, tenant: str | None = None) -> httpx.AsyncClient:
        headers = self.tenants[tenant].headers if tenant else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)


class _InProcessServer(uvicorn.Server):
    """Leaves SIGINT/SIGTERM to pytest: the server stops when the fixture says so."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """Serve `app` (lifespan included) on 127.0.0.1 and a free port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = _InProcessServer(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                raise RuntimeError(f"the API did not start: {task.exception()!r}")
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def tenants() -> dict[str, Tenant]:
    return {name: Tenant(unique(f"org-{name}"), secrets.token_urlsafe(16)) for name in TENANTS}


@pytest.fixture(scope="session")
async def api(pipeline: Pipeline) -> AsyncIterator[RunningApi]:
    """One API for the session on the pipeline's namespace (so POST /commands reaches its worker)."""
    people = tenants()
    table = TokenTable({t.token: t.organization_id for t in people.values()})
    async with serving(create_api(pipeline.settings, table)) as url:
        yield RunningApi(url, pipeline.settings, people)


def job_row(job_id: str, organization_id: str, created_at: datetime, **columns: Any) -> dict[str, Any]:
    return {
        "id": job_id,
        "job_type": "job",
        "status": "created",
        "seq": 1,
        "organization_id": organization_id,
        "created_at": created_at,
        "updated_at": created_at,
        **columns,
    }


async def insert_jobs(settings: Settings, rows: Sequence[dict[str, Any]]) -> None:
    """Rows straight into `jobs`: for read-side tests that need shapes the worker takes long to build."""
    await insert_rows(settings, jobs, rows)


async def insert_rows(settings: Settings, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    # executemany takes its columns from the first row: give every row the same keys.
    columns = {name for row in rows for name in row}
    uniform = [{name: row.get(name) for name in columns} for row in rows]
    engine = create_engine(settings.postgres_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(table), uniform)
    finally:
        await engine.dispose()


async def walk(
    client: httpx.AsyncClient, path: str, key: str, cursor_field: str, **params: Any
) -> tuple[list[str], int]:
    """Follow next_cursor (as `after` ascending, `before` descending) through one listing.

    Returns the `cursor_field` of every item seen, in order, and how many pages it took; checks on
    the way that each next_cursor names the page's last item, as docs/contract.md §9 says.
    """
    follow = "after" if params.get("ascending", True) else "before"
    seen: list[str] = []
    pages = 0
    while True:
        response = await client.get(path, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        seen.extend(item[cursor_field] for item in body[key])
        if body["next_cursor"] is None:
            return seen, pages
        assert body["next_cursor"] == seen[-1]
        params = {**params, follow: body["next_cursor"]}


def event_rows(job_id: str, count: int, start: datetime) -> list[dict[str, Any]]:
    """`job_events` rows for seqs 1..count, one second apart, each payload shaped as the worker's."""
    rows = []
    for seq in range(1, count + 1):
        at = start + timedelta(seconds=seq)
        payload = {
            "event_id": f"{job_id}:{seq}",
            "type": "job.metadata_updated",
            "job_id": job_id,
            "seq": seq,
            "command_id": f"c-{seq}",
            "occurred_at": at.isoformat(),
            "job": {"id": job_id, "seq": seq},
        }
        rows.append(
            {
                **{k: payload[k] for k in ("event_id", "job_id", "seq", "command_id", "type")},
                "payload": payload,
                "occurred_at": at,
            }
        )
    return rows


def moments(count: int, ties: int = 3) -> list[datetime]:
    """`count` timestamps in groups of `ties` equal ones, so ordering must fall back to the id."""
    start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=secrets.randbelow(10**6))
    return [start + timedelta(milliseconds=n // ties) for n in range(count)]


async def post(client: httpx.AsyncClient, **command: Any) -> str:
    response = await client.post("/commands", json=command)
    assert response.status_code == 202, response.text
    return str(response.json()["command_id"])


async def job_when(pipeline: Pipeline, client: httpx.AsyncClient, job_id: str, seq: int) -> dict[str, Any]:
    """The job as the API shows it once the worker has applied `seq` commands."""

    async def applied() -> dict[str, Any] | None:
        response = await client.get(f"/jobs/{job_id}")
        return response.json() if response.status_code == 200 and response.json()["seq"] >= seq else None

    job: dict[str, Any] = await pipeline.wait_for(applied, what=f"{job_id} at seq {seq}")
    return job


async def assert_nothing_published(pipeline: Pipeline, job_id: str) -> None:
    found = await pipeline.read_topic(
        pipeline.settings.topics.commands, lambda m: m.key == job_id.encode(), 0, timeout_s=10, settle_s=2
    )
    assert found == [], "a refused command reached jobs.commands"
