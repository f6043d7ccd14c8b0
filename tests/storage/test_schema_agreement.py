"""storage/tables.py and the migrations describe one schema: the same indexes, column for column."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from alembic import command
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.schema import CreateIndex, CreateTable

from storage.migrate import alembic_config, upgrade
from storage.tables import metadata
from streams.devtools.stack.stack import LocalStack
from streams.settings import Settings

SKIP = {"alembic_version_pkc"}  # Alembic's own bookkeeping, not part of the schema
INDEXES = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname"


async def _database(server_url: str) -> AsyncIterator[str]:
    name = f"agreement_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def migrated(stack: LocalStack, settings: Settings) -> AsyncIterator[str]:
    async for url in _database(settings.postgres_url):
        upgrade(url)
        yield url


@pytest.fixture
async def declared(stack: LocalStack, settings: Settings) -> AsyncIterator[str]:
    """A database built from storage/tables.py alone (what `metadata.create_all` would make)."""
    async for url in _database(settings.postgres_url):
        dialect = postgresql.dialect()
        connection = await asyncpg.connect(url)
        try:
            for table in metadata.sorted_tables:
                await connection.execute(str(CreateTable(table).compile(dialect=dialect)))
                for index in table.indexes:
                    await connection.execute(str(CreateIndex(index).compile(dialect=dialect)))
        finally:
            await connection.close()
        yield url


async def _indexes(url: str) -> dict[str, str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(INDEXES)
    finally:
        await connection.close()
    return {
        row["indexname"]: re.sub(r"\s+", " ", row["indexdef"])
        for row in rows
        if row["indexname"] != "alembic_version_pkc"
    }


async def test_the_migrations_build_the_indexes_tables_py_declares(migrated: str, declared: str) -> None:
    assert await _indexes(migrated) == await _indexes(declared)


async def test_ix_jobs_created_is_gone_and_every_filter_has_its_index(migrated: str) -> None:
    names = set(await _indexes(migrated))
    assert "ix_jobs_created" not in names
    assert {
        "ix_jobs_org_created",
        "ix_jobs_org_status_created",
        "ix_jobs_org_type_created",
        "ix_jobs_org_stop_created",
        "ix_jobs_org_background_created",
        "ix_jobs_org_agent_created",
        "ix_jobs_org_batch_created",
        "ix_jobs_org_duration",
        "ix_jobs_metadata",
    } <= names


async def test_0004_downgrades_to_exactly_0003s_indexes(stack: LocalStack, settings: Settings) -> None:
    async for before in _database(settings.postgres_url):
        upgrade(before, "0003")
        async for after in _database(settings.postgres_url):
            upgrade(after)
            # Alembic's env runs its own event loop: off this one, as storage.migrate.upgrade does.
            await asyncio.to_thread(command.downgrade, alembic_config(after), "0003")
            assert await _indexes(after) == await _indexes(before)
