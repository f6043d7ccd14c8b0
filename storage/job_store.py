"""The command path's writer: lock, load and write a whole batch of jobs in one transaction."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg
import orjson
from sqlalchemy import exc as sa_errors
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.job import PUBLIC_FIELD_NAMES, JobState
from schemas.vocabulary import JobType, Status
from storage.database import raw_connection
from storage.exceptions import StorageTimeout, WriteConflict

_COLS = ", ".join(PUBLIC_FIELD_NAMES)
_JSON = frozenset({"metadata", "request_config", "retry_policy"})
# A whole batch travels as ONE JSON document that Postgres unpacks (jsonb_populate_recordset): orjson
# encodes it far faster than the driver encodes 25 typed arrays element by element.
INSERT_JOBS = (
    f"INSERT INTO jobs ({_COLS}) SELECT {_COLS} FROM jsonb_populate_recordset(NULL::jobs, $1::jsonb) "
    "/*gate*/ ON CONFLICT (id) DO NOTHING RETURNING id"
)
UPDATE_JOBS = (
    "UPDATE jobs SET "
    + ", ".join(f"{c} = v.{c}" for c in PUBLIC_FIELD_NAMES if c != "id")
    + " FROM jsonb_populate_recordset(NULL::jobs, $1::jsonb) AS v,"
    " unnest($2::text[], $3::int4[]) AS e(id, expected_seq)"
    " WHERE jobs.id = v.id AND e.id = v.id AND jobs.seq = e.expected_seq /*and gate*/ RETURNING jobs.id"
)
INSERT_EVENTS = (
    "INSERT INTO job_events (event_id, job_id, seq, command_id, type, payload, occurred_at) "
    "SELECT v.payload->>'event_id', v.payload->>'job_id', (v.payload->>'seq')::int4,"
    " v.payload->>'command_id', v.payload->>'type', v.payload, (v.payload->>'occurred_at')::timestamptz"
    " FROM jsonb_array_elements($1::jsonb) AS v(payload) /*gate*/"
)
INSERT_REJECTIONS = (
    "INSERT INTO job_rejections (job_id, command_id, payload, occurred_at) "
    "SELECT v.payload->>'job_id', v.payload->>'command_id', v.payload,"
    " (v.payload->>'occurred_at')::timestamptz"
    " FROM jsonb_array_elements($1::jsonb) AS v(payload) /*gate*/ ON CONFLICT DO NOTHING RETURNING 1"
)
# What became of these (job, command id) pairs before: the seq an applied one produced (rule 7), or the
# rejection a rejected one got. One round trip over both unique indexes, whatever the jobs' histories.
STORED_OUTCOMES = (
    "SELECT e.job_id, e.command_id, e.seq, NULL AS payload FROM job_events e"
    " JOIN unnest($1::text[], $2::text[]) AS k(job_id, command_id)"
    " ON e.job_id = k.job_id AND e.command_id = k.command_id"
    " UNION ALL "
    "SELECT r.job_id, r.command_id, NULL, r.payload::text FROM job_rejections r"
    " JOIN unnest($1::text[], $2::text[]) AS k(job_id, command_id)"
    " ON r.job_id = k.job_id AND r.command_id = k.command_id"
)
# Rule 14, in the batch's transaction: what is bounded per job (the row, its callback deliveries, a
# batch's item mapping and its provider's last state) goes now; its history (events but the tombstone,
# messages, rejections), which a producer can grow without limit, is queued for `storage.purge` to
# remove in bounded steps, so no delete can outlast the statement timeout and be retried for ever. One
# statement: each CTE runs once.
DELETE_JOBS = (
    "WITH ids AS (SELECT unnest($1::text[]) AS id),"
    " deliveries AS (DELETE FROM callback_deliveries d USING ids WHERE d.job_id = ids.id),"
    " items AS (DELETE FROM batch_items b USING ids WHERE b.batch_id = ids.id),"
    " states AS (DELETE FROM batch_provider_states s USING ids WHERE s.batch_id = ids.id),"
    " queued AS (INSERT INTO job_purges (job_id, requested_at) SELECT id, now() FROM ids"
    " ON CONFLICT DO NOTHING)"
    " DELETE FROM jobs j USING ids WHERE j.id = ids.id"
)
# The batch's existing jobs, locked, and which of its ids belong to deleted jobs (a partial index).
LOCK_JOBS = (
    "WITH locked AS (SELECT id, seq FROM jobs WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE)"
    " SELECT id, seq, false AS deleted FROM locked"
    " UNION ALL SELECT job_id, seq, true FROM job_events"
    " WHERE type = 'job.deleted' AND job_id = ANY($1::text[])"
)
INSERT_MESSAGES = (
    "INSERT INTO job_messages (job_id, message_id, created_at) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[]) /*gate*/ ON CONFLICT DO NOTHING"
)
INSERT_BATCH_ITEMS = (
    "INSERT INTO batch_items (batch_id, custom_id, job_id, updated_at) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) /*gate*/"
    " ON CONFLICT DO NOTHING"
)

# The one-statement write's guard (migration 0009): locks the batch's jobs, then true only if each has
# the seq the worker's state table gives it (none: no row), none was deleted and none of the batch's
# commands has an outcome yet. Each part of the write carries a `/*gate*/` where its condition goes.
UNCHANGED_GUARD = "SELECT jobstream_batch_unchanged($1::text[], $2::int4[], $3::text[], $4::text[]) AS ok"
_GATE = "(SELECT ok FROM guard)"


@dataclass(slots=True)
class StoredOutcomes:
    """Earlier outcomes of a batch's commands, keyed by (job id, command id); both are final."""

    event_seqs: dict[tuple[str, str], int] = field(default_factory=dict)  # applied -> the seq it produced
    rejections: dict[tuple[str, str], bytes] = field(default_factory=dict)  # rejected -> the rejection event


@dataclass(slots=True)
class LockedJobs:
    """The seq of each existing job of a batch (now locked), and the ids of deleted jobs among them."""

    seqs: dict[str, int] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)


@dataclass(slots=True)
class BatchWrite:
    """Everything one batch of commands changes, written in one transaction."""

    created: list[JobState] = field(default_factory=list)
    updated: list[tuple[JobState, int]] = field(default_factory=list)  # (state, seq validated against)
    events: list[bytes] = field(default_factory=list)  # applied commands' events, as sent to Kafka
    rejections: list[bytes] = field(default_factory=list)  # rejection events, likewise
    messages: list[tuple[str, str, datetime]] = field(default_factory=list)
    batch_items: list[tuple[str, str, str, datetime]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)  # jobs removed after the rest is written (rule 14)


class JobTransaction:
    """The statements of one batch; every method runs inside the same Postgres transaction."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._pg = connection

    async def lock(self, job_ids: Iterable[str]) -> LockedJobs:
        """Lock the batch's existing jobs (so no other worker interleaves), read their seq, and say
        which ids were deleted jobs: one round trip."""
        locked = LockedJobs()
        for row in await self._pg.fetch(LOCK_JOBS, list(job_ids)):
            if row["deleted"]:
                locked.deleted.add(row["id"])
            else:
                locked.seqs[row["id"]] = row["seq"]
        return locked

    async def load(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        """Full state from the source of truth."""
        rows = await self._pg.fetch(f"SELECT {_COLS} FROM jobs WHERE id = ANY($1::text[])", list(job_ids))
        return {row["id"]: job_from_row(row) for row in rows}

    async def stored_events(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], bytes]:
        """The events applied commands produced (as JSON), for re-emitting duplicates with the same id."""
        if not keys:
            return {}
        rows = await self._pg.fetch(
            "SELECT e.job_id, e.seq, e.payload::text AS payload FROM job_events e "
            "JOIN unnest($1::text[], $2::int4[]) AS k(job_id, seq) ON e.job_id = k.job_id AND e.seq = k.seq",
            [k[0] for k in keys],
            [k[1] for k in keys],
        )
        return {(row["job_id"], row["seq"]): row["payload"].encode() for row in rows}

    async def stored_outcomes(self, keys: Iterable[tuple[str, str]]) -> StoredOutcomes:
        """What these (job, command id) pairs came to before: applied as a seq, or rejected."""
        outcomes = StoredOutcomes()
        pairs = list(keys)
        if not pairs:
            return outcomes
        rows = await self._pg.fetch(STORED_OUTCOMES, [p[0] for p in pairs], [p[1] for p in pairs])
        for row in rows:
            key = (row["job_id"], row["command_id"])
            if row["payload"] is None:
                outcomes.event_seqs[key] = row["seq"]
            else:
                outcomes.rejections[key] = row["payload"].encode()
        return outcomes

    async def write(self, batch: BatchWrite) -> None:
        """Insert new jobs, update changed ones conditional on seq, and append their events and the rest:
        one statement (each part a data-modifying CTE), so a batch's write is one round trip. The deletes
        follow in a second one: they must see what the first wrote (a batch's items created and deleted
        in the same batch), which a CTE of the same statement would not."""
        parts = _write_parts(batch)
        if parts:
            statement, args = _one_statement(parts)
            try:
                counts = await self._pg.fetchrow(statement, *args)
            except asyncpg.UniqueViolationError as exc:
                raise WriteConflict(f"an event of this batch exists already: {exc}") from exc
            assert counts is not None
            if counts["created"] != len(batch.created):
                raise WriteConflict("a job created by this batch was created concurrently")
            if counts["updated"] != len(batch.updated):
                raise WriteConflict("a job changed since this batch validated it")
        if batch.deleted:
            await self._pg.execute(DELETE_JOBS, batch.deleted)


class _Part(NamedTuple):
    name: str  # the CTE's; `created` and `updated` return the ids they wrote, to be counted
    statement: str  # numbered from $1
    args: tuple[Any, ...]


def _write_parts(batch: BatchWrite) -> list[_Part]:
    parts = []
    if batch.created:
        parts.append(_Part("created", INSERT_JOBS, (orjson.dumps(batch.created).decode(),)))
    if batch.updated:
        states = [state for state, _ in batch.updated]
        args = (orjson.dumps(states).decode(), [s.id for s in states], [seq for _, seq in batch.updated])
        parts.append(_Part("updated", UPDATE_JOBS, args))
    if batch.events:
        parts.append(_Part("events", INSERT_EVENTS, ((b"[" + b",".join(batch.events) + b"]").decode(),)))
    if batch.rejections:
        rejections = (b"[" + b",".join(batch.rejections) + b"]").decode()
        parts.append(_Part("rejections", INSERT_REJECTIONS, (rejections,)))
    if batch.messages:
        parts.append(_Part("messages", INSERT_MESSAGES, tuple(map(list, zip(*batch.messages, strict=True)))))
    if batch.batch_items:
        items = tuple(map(list, zip(*batch.batch_items, strict=True)))
        parts.append(_Part("batch_items", INSERT_BATCH_ITEMS, items))
    return parts


def _one_statement(
    parts: list[_Part], guard: _Part | None = None, expected: tuple[int, ...] = ()
) -> tuple[str, list[Any]]:
    """`WITH created AS (…), updated AS (…), … SELECT <counts>`: every data-modifying CTE runs once, in
    one snapshot, whether or not the final SELECT reads it. At most 2^6 shapes (prepared once each).

    With a `guard` (a CTE yielding one boolean `ok`), every part writes only if it is true, and the
    statement fails with SQLSTATE 40001 when it is but the created, updated and rejection rows written
    are not `expected`: `SELECT ok, aborted`."""
    ctes: list[str] = []
    args: list[Any] = []
    for part in [guard, *parts] if guard is not None else parts:
        numbered = _renumbered(part.statement, len(args))
        if guard is not None:
            numbered = numbered.replace("/*gate*/", f"WHERE {_GATE}").replace("/*and gate*/", f"AND {_GATE}")
        ctes.append(f"{part.name} AS ({numbered})")
        args.extend(part.args)
    names = {part.name for part in parts}
    counts = {
        name: f"(SELECT count(*) FROM {name})" if name in names else "0"
        for name in ("created", "updated", "rejections")
    }
    if guard is None:
        return (
            f"WITH {', '.join(ctes)} SELECT {counts['created']} AS created, {counts['updated']} AS updated",
            args,
        )
    placeholders = ", ".join(f"${len(args) + 1 + i}::int8" for i in range(len(counts)))
    check = f"(({', '.join(counts.values())}) <> ({placeholders}))"
    args.extend(expected)
    aborted = "jobstream_batch_abort('a job or command of this batch was written concurrently')"
    outcome = f"SELECT ok, CASE WHEN ok AND {check} THEN {aborted} END AS aborted FROM guard"
    return f"WITH {', '.join(ctes)} {outcome}", args


_PLACEHOLDER = re.compile(r"\$(\d+)")


def _renumbered(statement: str, offset: int) -> str:
    """`$1` -> `$(1 + offset)`, … (the statements hold no other `$`)."""
    return _PLACEHOLDER.sub(lambda match: f"${int(match.group(1)) + offset}", statement)


class JobStore:
    """Hands out one-transaction units of work on connections from the service's engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[JobTransaction]:
        """One transaction; timeouts come out as `StorageTimeout` saying which wait ran out."""
        async with self._connection() as pg, pg.transaction():
            yield JobTransaction(pg)

    async def write_if_unchanged(
        self, batch: BatchWrite, seqs: Mapping[str, int | None], commands: Sequence[tuple[str, str]]
    ) -> bool:
        """Write a batch decided on the worker's own state in one statement and one round trip, no
        transaction around it, if Postgres agrees with that state: each job in `seqs` at that seq (None:
        no row), none deleted, no (job, command id) of `commands` with an outcome already. False, having
        written nothing, if it does not (or a job, an event or a rejection was written concurrently):
        the caller then takes the locked path, which reloads. A batch that deletes takes that path from
        the start."""
        if batch.deleted:
            raise ValueError("a batch that deletes jobs is written in a transaction (JobStore.transaction)")
        ids = list(seqs)
        guard_args = (ids, [seqs[i] for i in ids], [c[0] for c in commands], [c[1] for c in commands])
        guard = _Part("guard", UNCHANGED_GUARD, guard_args)
        written = (len(batch.created), len(batch.updated), len(batch.rejections))
        statement, args = _one_statement(_write_parts(batch), guard, written)
        async with self._connection() as pg:
            try:
                row = await pg.fetchrow(statement, *args)
            except (asyncpg.UniqueViolationError, asyncpg.TransactionRollbackError):
                return False  # undone as a whole (our abort, a deadlock): another writer got there first
        assert row is not None
        return bool(row["ok"])

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; timeouts come out as `StorageTimeout` saying which wait ran out."""
        async with AsyncExitStack() as stack:
            try:
                pg = await stack.enter_async_context(raw_connection(self.engine))
            except (TimeoutError, sa_errors.TimeoutError) as exc:
                raise StorageTimeout(
                    f"no Postgres connection in time (connect or pool timeout): {exc!r}"
                ) from exc
            try:
                yield pg
            except TimeoutError as exc:
                raise StorageTimeout(f"Postgres did not answer a statement in time: {exc!r}") from exc


def job_from_row(row: asyncpg.Record | dict[str, Any]) -> JobState:
    """A jobs row as the validator's state."""
    data = {name: row[name] for name in PUBLIC_FIELD_NAMES}
    for name in _JSON:
        if isinstance(data[name], str):
            data[name] = orjson.loads(data[name])
    data["job_type"] = JobType(data["job_type"])
    data["status"] = Status(data["status"])
    if data["metadata"] is None:
        data["metadata"] = {}
    return JobState(**data)
