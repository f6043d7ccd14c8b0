"""The command path's writer: lock, load and write a whole batch of jobs in one transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.job import PUBLIC_FIELD_NAMES, JobState
from schemas.vocabulary import JobType, Status
from storage.exceptions import WriteConflict

# Postgres array type of each jobs column, in JobState's public field order; JSON goes as text.
_COLUMN_TYPES: dict[str, str] = {
    "id": "text",
    "job_type": "text",
    "status": "text",
    "seq": "int4",
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
    "stop_reason": "text",
    "metadata": "jsonb",
    "organization_id": "text",
    "agent_id": "text",
    "background": "bool",
    "request_config": "jsonb",
    "batch_id": "text",
    "provider": "text",
    "provider_batch_id": "text",
    "callback_url": "text",
    "callback_sent_at": "timestamptz",
    "callback_status_code": "int4",
    "callback_error": "text",
    "callback_attempts": "int4",
    "timeout_seconds": "float8",
    "expires_at": "timestamptz",
    "ttft_ns": "int8",
    "total_duration_ns": "int8",
    "completed_at": "timestamptz",
}
_JSON = frozenset(name for name, kind in _COLUMN_TYPES.items() if kind == "jsonb")
assert tuple(_COLUMN_TYPES) == PUBLIC_FIELD_NAMES, "jobs columns and JobState fields drifted apart"


def _unnest(columns: Sequence[str], types: Sequence[str]) -> str:
    params = ", ".join(f"${i}::{'text' if t == 'jsonb' else t}[]" for i, t in enumerate(types, 1))
    return f"unnest({params}) AS v({', '.join(columns)})"


def _value(column: str) -> str:
    return f"v.{column}::jsonb" if column in _JSON else f"v.{column}"


_COLS = ", ".join(PUBLIC_FIELD_NAMES)
_TYPES = list(_COLUMN_TYPES.values())
INSERT_JOBS = (
    f"INSERT INTO jobs ({_COLS}) SELECT {', '.join(_value(c) for c in PUBLIC_FIELD_NAMES)} "
    f"FROM {_unnest(PUBLIC_FIELD_NAMES, _TYPES)} ON CONFLICT (id) DO NOTHING RETURNING id"
)
UPDATE_JOBS = (
    "UPDATE jobs SET "
    + ", ".join(f"{c} = {_value(c)}" for c in PUBLIC_FIELD_NAMES if c != "id")
    + f" FROM {_unnest([*PUBLIC_FIELD_NAMES, 'expected_seq'], [*_TYPES, 'int4'])}"
    " WHERE jobs.id = v.id AND jobs.seq = v.expected_seq RETURNING jobs.id"
)
INSERT_EVENTS = (
    "INSERT INTO job_events (event_id, job_id, seq, command_id, type, payload, occurred_at) "
    "SELECT v.event_id, v.job_id, v.seq, v.command_id, v.type, v.payload::jsonb, v.occurred_at FROM "
    + _unnest(
        ["event_id", "job_id", "seq", "command_id", "type", "payload", "occurred_at"],
        ["text", "text", "int4", "text", "text", "jsonb", "timestamptz"],
    )
)
INSERT_MESSAGES = (
    "INSERT INTO job_messages (job_id, message_id, created_at) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[]) ON CONFLICT DO NOTHING"
)
INSERT_BATCH_ITEMS = (
    "INSERT INTO batch_items (batch_id, custom_id, job_id, updated_at) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) ON CONFLICT DO NOTHING"
)


@dataclass(frozen=True, slots=True)
class AppliedEvent:
    """One applied command's event, stored next to the job it changed."""

    job_id: str
    seq: int
    command_id: str
    type: str
    payload: dict[str, Any]
    occurred_at: datetime


@dataclass(slots=True)
class BatchWrite:
    """Everything one batch of commands changes, written in one transaction."""

    created: list[JobState]
    updated: list[tuple[JobState, int]]  # (final state, seq the validator started from)
    events: list[AppliedEvent]
    messages: list[tuple[str, str, datetime]]
    batch_items: list[tuple[str, str, str, datetime]]


class JobTransaction:
    """The statements of one batch; every method runs inside the same Postgres transaction."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._pg = connection

    async def lock_seqs(self, job_ids: Iterable[str]) -> dict[str, int]:
        """Lock the batch's existing jobs (so no other worker interleaves) and read their seq."""
        rows = await self._pg.fetch(
            "SELECT id, seq FROM jobs WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE", list(job_ids)
        )
        return {row["id"]: row["seq"] for row in rows}

    async def load(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        """Full state from the source of truth, with the command ids already applied (rule 7)."""
        rows = await self._pg.fetch(f"SELECT {_COLS} FROM jobs WHERE id = ANY($1::text[])", list(job_ids))
        states = {row["id"]: job_from_row(row) for row in rows}
        applied = await self._pg.fetch(
            "SELECT job_id, command_id, seq FROM job_events WHERE job_id = ANY($1::text[])", list(states)
        )
        for row in applied:
            states[row["job_id"]].applied[row["command_id"]] = row["seq"]
        return states

    async def stored_events(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], dict[str, Any]]:
        """The events applied commands produced, for re-emitting duplicates with the same event_id."""
        if not keys:
            return {}
        rows = await self._pg.fetch(
            "SELECT e.job_id, e.seq, e.payload::text AS payload FROM job_events e "
            "JOIN unnest($1::text[], $2::int4[]) AS k(job_id, seq) ON e.job_id = k.job_id AND e.seq = k.seq",
            [k[0] for k in keys],
            [k[1] for k in keys],
        )
        return {(row["job_id"], row["seq"]): orjson.loads(row["payload"]) for row in rows}

    async def write(self, batch: BatchWrite) -> None:
        """Insert new jobs, update changed ones conditional on seq, and append their events."""
        if batch.created:
            inserted = await self._pg.fetch(INSERT_JOBS, *_columns(batch.created))
            if len(inserted) != len(batch.created):
                raise WriteConflict("a job created by this batch was created concurrently")
        if batch.updated:
            states = [state for state, _ in batch.updated]
            updated = await self._pg.fetch(
                UPDATE_JOBS, *_columns(states), [expected for _, expected in batch.updated]
            )
            if len(updated) != len(states):
                raise WriteConflict("a job changed since this batch validated it")
        if batch.events:
            events = batch.events
            try:
                await self._pg.execute(
                    INSERT_EVENTS,
                    [f"{e.job_id}:{e.seq}" for e in events],
                    [e.job_id for e in events],
                    [e.seq for e in events],
                    [e.command_id for e in events],
                    [e.type for e in events],
                    [orjson.dumps(e.payload).decode() for e in events],
                    [e.occurred_at for e in events],
                )
            except asyncpg.UniqueViolationError as exc:
                raise WriteConflict(f"an event of this batch exists already: {exc}") from exc
        if batch.messages:
            await self._pg.execute(INSERT_MESSAGES, *map(list, zip(*batch.messages, strict=True)))
        if batch.batch_items:
            await self._pg.execute(INSERT_BATCH_ITEMS, *map(list, zip(*batch.batch_items, strict=True)))


class JobStore:
    """Hands out one-transaction units of work on connections from the service's engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[JobTransaction]:
        async with self.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            pg: asyncpg.Connection = raw.driver_connection  # type: ignore[assignment]
            async with pg.transaction():
                yield JobTransaction(pg)


def _columns(states: Sequence[JobState]) -> list[list[Any]]:
    columns: list[list[Any]] = []
    for name in PUBLIC_FIELD_NAMES:
        values = [getattr(state, name) for state in states]
        if name in _JSON:
            values = [None if v is None else orjson.dumps(v).decode() for v in values]
        columns.append(values)
    return columns


def job_from_row(row: asyncpg.Record | dict[str, Any]) -> JobState:
    """A jobs row as the validator's state (its `applied` ledger is filled by the caller)."""
    data = {name: row[name] for name in PUBLIC_FIELD_NAMES}
    for name in _JSON:
        if isinstance(data[name], str):
            data[name] = orjson.loads(data[name])
    data["job_type"] = JobType(data["job_type"])
    data["status"] = Status(data["status"])
    if data["metadata"] is None:
        data["metadata"] = {}
    return JobState(**data)
