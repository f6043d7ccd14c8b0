"""Engine construction: one place that turns DATABASE_URL into an async SQLAlchemy engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


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
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=pre_ping,
        pool_timeout=pool_timeout,
        connect_args=connect_args,
    )


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
