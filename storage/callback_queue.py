"""The durable delivery queue: one `callback_deliveries` row per terminal event, claimed under a lease."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.callbacks import encode_body, endpoint_key, in_spec_order
from storage.database import raw_connection

FinalState = Literal["delivered", "failed"]

INSERT = (
    "INSERT INTO callback_deliveries "
    "(event_id, app_id, job_id, organization_id, url, payload, traceparent, endpoint, attempts,"
    " next_attempt_at, state, created_at) "
    "SELECT v.event_id, $1, v.job_id, v.organization_id, v.url, v.payload::jsonb, v.traceparent, v.endpoint,"
    " 0, now(), 'pending', now() "
    "FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) "
    "AS v(event_id, job_id, organization_id, url, payload, traceparent, endpoint) "
    # A terminal event read again after its job was deleted (rule 14) schedules nothing.
    "WHERE NOT EXISTS (SELECT 1 FROM job_events e WHERE e.type = 'job.deleted' AND e.job_id = v.job_id) "
    "ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
)
# Select-for-update and lease in one statement: the lease is committed before any request goes out.
CLAIM = (
    "WITH due AS ("
    " SELECT event_id FROM callback_deliveries"
    " WHERE app_id = $1 AND state = 'pending' AND next_attempt_at <= now()"
    " AND NOT (event_id = ANY($3::text[]))"
    " ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED) "
    "UPDATE callback_deliveries AS d SET next_attempt_at = now() + make_interval(secs => $4::float8),"
    " held = false "
    "FROM due WHERE d.event_id = due.event_id "
    "RETURNING d.event_id, d.job_id, d.organization_id, d.url, d.payload::text AS payload, "
    "d.attempts, d.next_attempt_at, d.traceparent, d.endpoint, "
    # The breaker's state as of the claim: only deliveries to a tripped endpoint consult it again.
    "(SELECT e.state FROM callback_endpoints e WHERE e.app_id = d.app_id AND e.endpoint = d.endpoint)"
    " AS endpoint_state"
)
# Every write after a claim is fenced by the lease it was claimed with: a worker whose lease ran out
# (and was re-claimed by another) changes nothing.
_FENCE = "WHERE event_id = $1 AND state = 'pending' AND next_attempt_at = $2"
RESCHEDULE = (
    "UPDATE callback_deliveries SET attempts = $3,"
    " next_attempt_at = now() + make_interval(secs => $4::float8),"
    f" last_status_code = $5, last_error = $6 {_FENCE}"
)
FINISH = (
    "UPDATE callback_deliveries SET attempts = $3, state = $4, last_status_code = $5, last_error = $6,"
    f" finished_at = now() {_FENCE}"
)
# The breaker's deferral: due again at $3 without an attempt spent; held, so its endpoint closing wakes it.
DEFER = (
    f"UPDATE callback_deliveries SET next_attempt_at = greatest($3::timestamptz, now()), held = true {_FENCE}"
)
# The rest of an open endpoint's due backlog parked at once: only rows due now, which no worker holds (a
# leased row's next_attempt_at is its lease, in the future), so no fence is broken; claims skip the locks.
PARK_DUE = (
    "UPDATE callback_deliveries SET next_attempt_at = $3, held = true "
    "WHERE app_id = $1 AND endpoint = $2 AND state = 'pending' AND NOT held AND next_attempt_at <= now()"
    # The next probe stays due at the probe time, or recovery would wait for the parking to end.
    " AND event_id IS DISTINCT FROM (SELECT e.probe_event_id FROM callback_endpoints e"
    " WHERE e.app_id = $1 AND e.endpoint = $2)"
)
# Held rows are never leased (a claim clears `held`), so waking them cannot break another worker's fence.
WAKE = (
    "UPDATE callback_deliveries SET next_attempt_at = now(), held = false "
    "WHERE app_id = $1 AND endpoint = $2 AND state = 'pending' AND held"
)
RELEASE = (
    "UPDATE callback_deliveries SET next_attempt_at = now() "
    "FROM unnest($1::text[], $2::timestamptz[]) AS v(event_id, lease) "
    "WHERE callback_deliveries.event_id = v.event_id AND callback_deliveries.state = 'pending' "
    "AND callback_deliveries.next_attempt_at = v.lease"
)


@dataclass(frozen=True)
class NewDelivery:
    """A callback to schedule: the terminal event's id (webhook-id) and its docs/contract.md §7 payload."""

    event_id: str
    job_id: str
    organization_id: str | None
    url: str
    payload: dict[str, Any] = field(repr=False)
    traceparent: str | None = None


@dataclass(frozen=True)
class Claimed:
    """A due delivery this worker holds until `lease` (also its fencing token); `attempts` so far."""

    event_id: str
    job_id: str
    organization_id: str | None
    url: str
    payload: dict[str, Any] = field(repr=False)
    attempts: int = 0
    lease: datetime | None = None
    traceparent: str | None = None
    endpoint: str | None = None  # the breaker's key (schemas.callbacks.endpoint_key); None: no breaker
    host: str | None = None
    endpoint_state: str | None = None  # its breaker's state when claimed; None: no failures on record


class DeliveryStore:
    """The queue's statements for one deployment (`app_id`); each is one auto-committed statement."""

    def __init__(self, engine: AsyncEngine, app_id: str) -> None:
        self.engine = engine
        self.app_id = app_id

    async def add(self, deliveries: Sequence[NewDelivery]) -> int:
        """Insert, skipping event ids already queued (a re-emitted event) and deleted jobs' events;
        returns how many are new."""
        if not deliveries:
            return 0
        unique = list({d.event_id: d for d in deliveries}.values())
        endpoints = [endpoint_key(d.url) for d in unique]
        async with raw_connection(self.engine) as pg:
            rows = await pg.fetch(
                INSERT,
                self.app_id,
                [d.event_id for d in unique],
                [d.job_id for d in unique],
                [d.organization_id for d in unique],
                [d.url for d in unique],
                [encode_body(d.payload).decode() for d in unique],
                [d.traceparent for d in unique],
                [None if key is None else key[0] for key in endpoints],
            )
        return len(rows)

    async def claim(self, limit: int, lease_s: float, exclude: Collection[str] = ()) -> list[Claimed]:
        """Due rows, oldest first, leased for `lease_s`; rows other workers hold are skipped."""
        if limit <= 0:
            return []
        async with raw_connection(self.engine) as pg:
            rows = await pg.fetch(CLAIM, self.app_id, limit, list(exclude), lease_s)
        return [_claimed(row) for row in rows]

    async def defer(self, claimed: Claimed, until: datetime) -> bool:
        """Hold a claimed delivery until `until` (its endpoint's breaker is open), attempts untouched;
        False if the lease was lost."""
        async with raw_connection(self.engine) as pg:
            status = await pg.execute(DEFER, claimed.event_id, claimed.lease, until)
        return status == "UPDATE 1"

    async def park_due(self, endpoint: str, until: datetime) -> int:
        """Hold every due, unclaimed delivery to `endpoint` until `until` (its breaker is open), in one
        statement, so a dead endpoint's backlog is not claimed and deferred row by row."""
        async with raw_connection(self.engine) as pg:
            status = await pg.execute(PARK_DUE, self.app_id, endpoint, until)
        return int(status.rsplit(" ", 1)[-1])

    async def wake(self, endpoint: str) -> int:
        """Make the endpoint's held deliveries due now (its breaker closed, or it was disabled or enabled)."""
        async with raw_connection(self.engine) as pg:
            status = await pg.execute(WAKE, self.app_id, endpoint)
        return int(status.rsplit(" ", 1)[-1])

    async def reschedule(
        self, claimed: Claimed, attempts: int, delay_s: float, status_code: int | None, error: str | None
    ) -> bool:
        """Record a failed attempt and when to try again; False if the lease was lost."""
        async with raw_connection(self.engine) as pg:
            status = await pg.execute(
                RESCHEDULE, claimed.event_id, claimed.lease, attempts, delay_s, status_code, error
            )
        return status == "UPDATE 1"

    async def finish(
        self,
        claimed: Claimed,
        attempts: int,
        state: FinalState,
        status_code: int | None,
        error: str | None,
    ) -> bool:
        """Close the delivery for good; False if the lease was lost."""
        async with raw_connection(self.engine) as pg:
            status = await pg.execute(
                FINISH, claimed.event_id, claimed.lease, attempts, state, status_code, error
            )
        return status == "UPDATE 1"

    async def release(self, claimed: Sequence[Claimed]) -> None:
        """Make leased rows due now (graceful stop), so they need not wait for the lease to run out."""
        if not claimed:
            return
        async with raw_connection(self.engine) as pg:
            await pg.execute(RELEASE, [c.event_id for c in claimed], [c.lease for c in claimed])


def _claimed(row: Any) -> Claimed:
    # Rows queued before migration 0008 have no stored key: derived from the URL the same way.
    key = endpoint_key(row["url"])
    return Claimed(
        event_id=row["event_id"],
        job_id=row["job_id"],
        organization_id=row["organization_id"],
        url=row["url"],
        payload=in_spec_order(orjson.loads(row["payload"])),
        attempts=row["attempts"],
        lease=row["next_attempt_at"],
        traceparent=row["traceparent"],
        endpoint=None if key is None else key[0],
        host=None if key is None else key[1],
        endpoint_state=row["endpoint_state"],
    )
