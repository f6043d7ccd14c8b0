"""The circuit breaker's shared state (docs/contract.md §7 "Circuit breaker"): one `callback_endpoints` row
per failing endpoint. Every transition is one statement on that row, so concurrent dispatchers serialize on
its lock and each decides from the newest version (READ COMMITTED re-evaluates SET and WHERE after a wait)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import raw_connection

EndpointState = Literal["closed", "open", "half_open", "disabled"]
STATES: tuple[EndpointState, ...] = ("closed", "open", "half_open", "disabled")

# The delivery $3 may probe: the open period is over, or the probe's lease ran out (its dispatcher died),
# or it is the probe itself coming back after its own lease ran out. One delivery at a time holds it.
_PROBE_DUE = (
    "((e.state = 'open' AND e.next_probe_at <= now())"
    " OR (e.state = 'half_open' AND (e.probe_until <= now() OR e.probe_event_id = $3)))"
)
ADMIT = (
    "UPDATE callback_endpoints AS e SET"
    f" state = CASE WHEN {_PROBE_DUE} THEN 'half_open' ELSE e.state END,"
    f" probe_event_id = CASE WHEN {_PROBE_DUE} OR (e.state = 'open' AND e.probe_event_id IS NULL) THEN $3"
    " ELSE e.probe_event_id END,"
    f" probe_until = CASE WHEN {_PROBE_DUE} THEN now() + make_interval(secs => $4::float8)"
    " ELSE e.probe_until END "
    "WHERE e.app_id = $1 AND e.endpoint = $2 "
    "RETURNING e.state, e.probe_event_id IS NOT DISTINCT FROM $3 AS mine, e.next_probe_at"
)
# $5 failures in a row open it; $7 seconds open (no success since) disable it; the delivery ($4) whose
# failure opened it, or whose probe failed, is the next probe, due $6 seconds later.
_NEW_STATE = (
    "CASE WHEN e.state = 'disabled' THEN 'disabled'"
    " WHEN e.state IN ('open', 'half_open') AND now() - e.opened_at >= make_interval(secs => $7::float8)"
    " THEN 'disabled'"
    " WHEN e.state = 'closed' AND e.failures + 1 >= $5 THEN 'open'"
    " WHEN e.state = 'half_open' AND e.probe_event_id = $4 THEN 'open'"
    " ELSE e.state END"
)
_REOPENS = f"(e.state IN ('closed', 'half_open') AND {_NEW_STATE} = 'open')"
FAILED = (
    "INSERT INTO callback_endpoints AS e (app_id, endpoint, host, state, failures, failing_since, opened_at,"
    " next_probe_at, probe_event_id, last_error, updated_at) "
    "SELECT $1, $2, $3, CASE WHEN o THEN 'open' ELSE 'closed' END, 1, now(), CASE WHEN o THEN now() END,"
    " CASE WHEN o THEN now() + make_interval(secs => $6::float8) END, CASE WHEN o THEN $4 END, $8, now() "
    "FROM (SELECT $5::int <= 1 AS o) AS first "
    "ON CONFLICT (app_id, endpoint) DO UPDATE SET"
    " failures = e.failures + 1, last_error = $8, updated_at = now(),"
    f" state = {_NEW_STATE},"
    f" opened_at = CASE WHEN e.state = 'closed' AND {_NEW_STATE} = 'open' THEN now() ELSE e.opened_at END,"
    f" next_probe_at = CASE WHEN {_REOPENS} THEN now() + make_interval(secs => $6::float8)"
    " ELSE e.next_probe_at END,"
    f" probe_event_id = CASE WHEN {_REOPENS} THEN $4 ELSE e.probe_event_id END,"
    f" probe_until = CASE WHEN {_NEW_STATE} = 'half_open' THEN e.probe_until END,"
    f" disabled_at = CASE WHEN e.state <> 'disabled' AND {_NEW_STATE} = 'disabled' THEN now()"
    " ELSE e.disabled_at END "
    "RETURNING e.state, e.next_probe_at, e.opened_at = now() AS opened, e.disabled_at = now() AS disabled"
)
# A success closes the breaker and forgets the failures; a disabled endpoint stays so until enabled.
SUCCEEDED = (
    "DELETE FROM callback_endpoints AS e "
    "WHERE e.app_id = $1 AND e.endpoint = $2 AND e.state <> 'disabled' "
    "RETURNING e.state"
)
ENABLE = (
    "DELETE FROM callback_endpoints WHERE app_id = $1 AND (endpoint = $2 OR host = $2) "
    "RETURNING endpoint, state"
)
COUNTS = "SELECT state, count(*) AS n FROM callback_endpoints WHERE app_id = $1 GROUP BY state"
STATE_OF = (
    "SELECT endpoint, host, state, failures, failing_since, opened_at, next_probe_at, disabled_at,"
    " last_error "
    "FROM callback_endpoints WHERE app_id = $1 ORDER BY endpoint LIMIT $2"
)


@dataclass(frozen=True)
class Admission:
    """The endpoint's state as a claimed delivery finds it; `mine`: this delivery probes (half_open) or is
    the next probe (open)."""

    state: EndpointState
    mine: bool
    next_probe_at: datetime | None


@dataclass(frozen=True)
class Failure:
    """The endpoint after a failure was counted; `opened`/`disabled`: this failure made it so."""

    state: EndpointState
    next_probe_at: datetime | None
    opened: bool
    disabled: bool


@dataclass(frozen=True)
class EndpointRow:
    endpoint: str
    host: str
    state: EndpointState
    failures: int
    failing_since: datetime
    opened_at: datetime | None
    next_probe_at: datetime | None
    disabled_at: datetime | None
    last_error: str | None


class EndpointStore:
    """The breaker's statements for one deployment (`app_id`); each is one auto-committed statement."""

    def __init__(self, engine: AsyncEngine, app_id: str) -> None:
        self.engine = engine
        self.app_id = app_id

    async def admit(self, endpoint: str, event_id: str, probe_lease_s: float) -> Admission | None:
        """Take the probe if it is due (leased for `probe_lease_s`), or say why not; None: no row (closed)."""
        async with raw_connection(self.engine) as pg:
            row = await pg.fetchrow(ADMIT, self.app_id, endpoint, event_id, probe_lease_s)
        return None if row is None else Admission(row["state"], row["mine"], row["next_probe_at"])

    async def failed(
        self,
        endpoint: str,
        host: str,
        event_id: str,
        *,
        failures_to_open: int,
        open_s: float,
        disable_after_s: float,
        error: str | None,
    ) -> Failure:
        """Count one failure of `event_id`'s attempt and make the transition it causes."""
        async with raw_connection(self.engine) as pg:
            row = await pg.fetchrow(
                FAILED,
                self.app_id,
                endpoint,
                host,
                event_id,
                failures_to_open,
                open_s,
                disable_after_s,
                error,
            )
        assert row is not None  # an upsert always returns its row
        return Failure(row["state"], row["next_probe_at"], bool(row["opened"]), bool(row["disabled"]))

    async def succeeded(self, endpoint: str) -> EndpointState | None:
        """Close the breaker; the state it was in (None: it had no failures), unless disabled."""
        async with raw_connection(self.engine) as pg:
            state: EndpointState | None = await pg.fetchval(SUCCEEDED, self.app_id, endpoint)
        return state

    async def enable(self, target: str) -> list[tuple[str, EndpointState]]:
        """Forget the breaker of an endpoint key, or of every endpoint of a host: (endpoint, former state)."""
        async with raw_connection(self.engine) as pg:
            rows = await pg.fetch(ENABLE, self.app_id, target)
        return [(row["endpoint"], row["state"]) for row in rows]

    async def counts(self) -> dict[EndpointState, int]:
        """Endpoints per state; every state is present (0 when none), "closed" counts rows still failing."""
        async with raw_connection(self.engine) as pg:
            rows = await pg.fetch(COUNTS, self.app_id)
        found = {row["state"]: int(row["n"]) for row in rows}
        return {state: found.get(state, 0) for state in STATES}

    async def rows(self, limit: int = 1000) -> list[EndpointRow]:
        """The endpoints with failures on record, for the operator's `jobstream callbacks endpoints`."""
        async with raw_connection(self.engine) as pg:
            rows = await pg.fetch(STATE_OF, self.app_id, limit)
        return [EndpointRow(**dict(row)) for row in rows]
