"""The worker's shared resources (engine, store, producer), started once and stopped with the worker."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import create_engine
from storage.job_store import JobStore
from streams.kafka.producer import DurableProducer
from streams.settings import Settings


class Runtime:
    """Lazily started on first use by any agent, so start order between Faust's services doesn't matter."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = asyncio.Lock()
        self._engine: AsyncEngine | None = None
        self._producer: DurableProducer | None = None

    async def start(self) -> None:
        async with self._lock:
            if self._producer is not None:
                return
            self._engine = create_engine(
                self.settings.postgres_url,
                pool_size=8,
                timeouts=self.settings.postgres_timeouts,
                pre_ping=False,  # a round trip per batch; outages are retried (see create_engine)
                generic_plans=True,
            )
            producer = DurableProducer(
                self.settings.bootstrap_servers, client_id=f"{self.settings.app_id}-worker"
            )
            await producer.start()
            self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    @property
    def engine(self) -> AsyncEngine:
        assert self._engine is not None, "Runtime.start() first"
        return self._engine

    @property
    def producer(self) -> DurableProducer:
        assert self._producer is not None, "Runtime.start() first"
        return self._producer

    @property
    def store(self) -> JobStore:
        return JobStore(self.engine)
