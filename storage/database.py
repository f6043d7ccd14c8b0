"""Engine construction: one place that turns DATABASE_URL into an async SQLAlchemy engine."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy import exc as sa_errors
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

# How old a connection's generic plans may get before the next checkout has Postgres make them again.
GENERIC_PLAN_MAX_AGE_S = 2.0


@dataclass(frozen=True)
class PostgresTimeouts:
    """Bounds on every wait for Postgres, so a hung server, a dead connection or a lock held by a zombie
    worker shows up as a timeout (an outage, retried with a log line) instead of a silent stall."""

    connect_s: float = 10.0  # TCP connect + authentication; also the wait for a free pooled connection
    statement_s: float = 30.0  # server side: statement_timeout
    lock_s: float = 10.0  # server side: lock_timeout, e.g. rows locked by a worker that lost its partitions
    idle_in_transaction_s: float = 60.0  # the server ends a transaction whose client went away

    def __post_init__(self) -> None:
        for name in ("connect_s", "statement_s", "lock_s", "idle_in_transaction_s"):
            if not getattr(self, name) >= 0.001:  # Postgres reads 0 as "no timeout"; NaN fails too
                raise ValueError(
                    f"Postgres timeout {name} must be at least 1 ms, got {getattr(self, name)!r}"
                )

    @property
    def answer_s(self) -> float:
        """Client side: how long to wait for any reply (the server's own timeouts fire first)."""
        return self.statement_s + 5.0


def async_url(url: str) -> str:
    """`postgresql://…` (what psql takes) -> the asyncpg dialect SQLAlchemy needs."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def create_engine(
    url: str,
    pool_size: int = 5,
    max_overflow: int = 5,
    timeouts: PostgresTimeouts | None = PostgresTimeouts(),
    pre_ping: bool = True,
    generic_plans: bool = False,
    generic_plan_max_age_s: float = GENERIC_PLAN_MAX_AGE_S,
) -> AsyncEngine:
    """`timeouts=None` only for work that may legitimately run long (migrations building indexes).

    `pre_ping` spends a round trip on every checkout (0.4 ms through SQLAlchemy's adapter) so a request
    never meets a connection the server closed. The worker turns it off: its writes retry outages anyway,
    and `raw_connection` drops connections found closed without a round trip."""
    connect_args: dict[str, object] = {}
    pool_timeout = 30.0
    if timeouts is not None:
        connect_args = {
            "timeout": timeouts.connect_s,
            "command_timeout": timeouts.answer_s,
            "server_settings": {
                "statement_timeout": str(int(timeouts.statement_s * 1000)),
                "lock_timeout": str(int(timeouts.lock_s * 1000)),
                "idle_in_transaction_session_timeout": str(int(timeouts.idle_in_transaction_s * 1000)),
            }
            | ({"plan_cache_mode": "force_generic_plan"} if generic_plans else {}),
        }
        pool_timeout = timeouts.connect_s
    engine = create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=pre_ping,
        pool_timeout=pool_timeout,
        connect_args=connect_args,
    )
    if generic_plans and timeouts is not None:
        _remake_plans_every(engine, generic_plan_max_age_s)
    return engine


def _remake_plans_every(engine: AsyncEngine, max_age_s: float) -> None:
    """A generic plan is made once, from the tables' size at that moment, and kept for the connection's
    life until something invalidates it (an ANALYZE, a schema change). Made on a new deployment's empty
    tables it reads the whole table (a sequential scan costs nothing on no pages), and keeps doing so
    on every call as the table grows, until autovacuum's next analyze: a worker on a young database got
    slower with every command (a batch's outcomes read went from 0.3 to 8.5 ms within a 20,000-command
    run). So a connection checked out when its plans are older than `max_age_s` has them discarded
    (`DISCARD PLANS`: the prepared statements stay, Postgres plans each again on its next use), at most
    one round trip and one planning per statement per `max_age_s`."""

    @event.listens_for(engine.sync_engine, "checkout")
    def discard_old_plans(
        dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
    ) -> None:
        now = time.monotonic()
        made = record.info.setdefault("plans_made_at", now)
        if now - made < max_age_s or dbapi_connection.driver_connection.is_closed():
            return  # a closed one is replaced by `raw_connection`, or fails the caller's first statement
        try:
            dbapi_connection.run_async(lambda pg: pg.execute("DISCARD PLANS"))
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
            raise sa_errors.DisconnectionError(f"connection lost discarding its plans: {exc!r}") from exc
        record.info["plans_made_at"] = now


@asynccontextmanager
async def raw_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection as the asyncpg driver's own, for the hot paths that skip SQLAlchemy's
    statement layer (batched writes, the delivery queue); it goes back to the pool on exit.

    Waiting for the connection (connect or pool timeout) raises as `engine.connect()` does. A connection
    asyncpg already knows is closed (the server went away or ended it) is replaced before use, and one
    that closed while in use is invalidated, not pooled again: SQLAlchemy sees no error on this path, so
    without this a lost connection would go back to the pool and fail every later checkout."""
    async with engine.connect() as connection:
        driver = await _driver(connection)
        if driver.is_closed():
            await connection.invalidate()
            driver = await _driver(connection)
        try:
            yield driver
        finally:
            if driver.is_closed():
                await connection.invalidate()


async def _driver(connection: AsyncConnection) -> asyncpg.Connection:
    raw = await connection.get_raw_connection()
    driver: asyncpg.Connection | None = raw.driver_connection
    assert driver is not None, "a checked-out connection has its driver connection"
    return driver
