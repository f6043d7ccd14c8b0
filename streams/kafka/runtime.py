"""The worker's shared resources (engines, store, producer), started once and stopped with the worker."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import create_engine
from storage.job_store import JobStore
from streams.kafka.producer import DurableProducer
from streams.settings import Settings

# The command path runs one batch at a time, a large one as up to this many concurrent transactions
# (streams/commands/partition_groups.py), or it settles a record that failed every attempt: a connection
# for each group serves it. They are its own: the callback dispatcher alone may have 64 attempts
# recording outcomes at once, and on a shared pool a batch waited behind them for a connection, or got a
# freshly opened one (overflow connections are closed when returned) and re-prepared its statements on it.
COMMAND_POOL_SIZE = 4
SHARED_POOL_SIZE = 8
SHARED_POOL_OVERFLOW = 5


class Runtime:
    """Lazily started on first use by any agent, so start order between Faust's services doesn't matter."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = asyncio.Lock()
        self._engine: AsyncEngine | None = None
        self._command_engine: AsyncEngine | None = None
        self._producer: DurableProducer | None = None

    async def start(self) -> None:
        async with self._lock:
            if self._producer is not None:
                return
            self._engine = self._new_engine(SHARED_POOL_SIZE, SHARED_POOL_OVERFLOW)
            self._command_engine = self._new_engine(COMMAND_POOL_SIZE, max_overflow=0)
            producer = DurableProducer(
                self.settings.bootstrap_servers, client_id=f"{self.settings.app_id}-worker"
            )
            await producer.start()
            self._producer = producer

    def _new_engine(self, pool_size: int, max_overflow: int) -> AsyncEngine:
        return create_engine(
            self.settings.postgres_url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            timeouts=self.settings.postgres_timeouts,
            pre_ping=False,  # a round trip per batch; outages are retried (see create_engine)
            generic_plans=True,
        )

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        for engine in (self._engine, self._command_engine):
            if engine is not None:
                await engine.dispose()
        self._engine = self._command_engine = None

    @property
    def engine(self) -> AsyncEngine:
        """Timers, callbacks, batch results: everything but the command path."""
        assert self._engine is not None, "Runtime.start() first"
        return self._engine

    @property
    def producer(self) -> DurableProducer:
        assert self._producer is not None, "Runtime.start() first"
        return self._producer

    @property
    def store(self) -> JobStore:
        """The command path's writer, on its own pool."""
        assert self._command_engine is not None, "Runtime.start() first"
        return JobStore(self._command_engine)
