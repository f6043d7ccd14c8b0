"""The FastAPI application: routers, and a lifespan owning the engine, producer and Kafka probe."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import structlog
from aiokafka.errors import KafkaError
from fastapi import Depends, FastAPI

from storage.database import create_engine
from streams.api import console, openapi
from streams.api.auth import TokenTable
from streams.api.body_limit import BodyLimit
from streams.api.kafka_probe import KafkaProbe
from streams.api.params import storable_parameters
from streams.api.routes import batches, commands, health, jobs, stats
from streams.api.state import ApiState
from streams.kafka.producer import DurableProducer
from streams.settings import Settings

log = structlog.get_logger(__name__)


def create_api(settings: Settings, tokens: TokenTable | None = None) -> FastAPI:
    """`tokens` defaults to the settings' (JOBSTREAM_API_TOKENS + _FILE); tests pass their own table."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as resources:
            engine = create_engine(settings.postgres_url, timeouts=settings.postgres_timeouts)
            resources.push_async_callback(engine.dispose)
            producer = DurableProducer(settings.bootstrap_servers, client_id=f"{settings.app_id}-api")
            kafka = KafkaProbe(settings.bootstrap_servers, client_id=f"{settings.app_id}-api-probe")
            try:
                await producer.start()
                resources.push_async_callback(producer.stop)
                await kafka.start()
                resources.push_async_callback(kafka.stop)
            except KafkaError as exc:
                # Without Kafka there is no ingress; refusing to start beats a half-working API.
                log.error(
                    "kafka_unreachable",
                    servers=settings.bootstrap_servers,
                    error=repr(exc),
                    hint="is the stack up? `jobstream stack up`",
                )
                raise
            app.state.jobstream = ApiState(settings, engine, producer, kafka)
            yield

    app = FastAPI(
        title="jobstream",
        summary="Query jobs, follow their events and submit commands (docs/contract.md §9).",
        version="1",
        lifespan=lifespan,
        dependencies=[Depends(storable_parameters)],
    )
    openapi.install(app)
    app.state.tokens = tokens if tokens is not None else TokenTable(settings.api_tokens)
    if not len(app.state.tokens):
        log.warning("no_api_tokens", hint="every call is a 401; set JOBSTREAM_API_TOKENS=token:org_id")
    app.add_middleware(BodyLimit)
    app.include_router(jobs.router)
    app.include_router(stats.router)
    app.include_router(commands.router)
    app.include_router(health.router)
    app.include_router(batches.router)
    console.install(app)
    return app
