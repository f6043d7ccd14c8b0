"""`raw_connection` on an engine without pre-ping (the worker's): a connection the server ended is never
handed out again, whether it ended while pooled or while in use."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import create_engine, raw_connection
from streams.devtools.stack.stack import LocalStack

pytestmark = pytest.mark.e2e


@pytest.fixture
async def engine_without_ping(stack: LocalStack) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(stack.settings.postgres_url, pool_size=1, pre_ping=False)
    yield engine
    await engine.dispose()


async def terminate(engine: AsyncEngine, backend_pid: int) -> None:
    """End a session from another connection, as a server restart or an administrator would."""
    admin = await asyncpg.connect(engine.url.render_as_string(hide_password=False).replace("+asyncpg", ""))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", backend_pid)
    finally:
        await admin.close()
    await asyncio.sleep(0.2)  # the pooled connection's socket sees the server close it


async def backend_pid(engine: AsyncEngine) -> int:
    async with raw_connection(engine) as pg:
        pid: int = await pg.fetchval("SELECT pg_backend_pid()")
        return pid


async def test_a_connection_ended_while_pooled_is_replaced(engine_without_ping: AsyncEngine) -> None:
    first = await backend_pid(engine_without_ping)
    await terminate(engine_without_ping, first)
    assert await backend_pid(engine_without_ping) != first


async def test_a_connection_ended_in_use_fails_that_use_only(engine_without_ping: AsyncEngine) -> None:
    with pytest.raises(asyncpg.InterfaceError):
        async with raw_connection(engine_without_ping) as pg:
            await terminate(engine_without_ping, await pg.fetchval("SELECT pg_backend_pid()"))
            await pg.fetchval("SELECT 1")
    async with raw_connection(engine_without_ping) as pg:
        assert await pg.fetchval("SELECT 1") == 1
