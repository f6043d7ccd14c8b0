"""`GET /healthz` (Kafka and Postgres reachable?) and `GET /metrics` (Prometheus text)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import structlog
from fastapi import APIRouter, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from streams.api import metrics
from streams.api.state import State

router = APIRouter(tags=["operations"])
log = structlog.get_logger(__name__)

CHECK_TIMEOUT_S = 2.0


@router.get("/healthz", responses={503: {"description": "Kafka or Postgres is unreachable."}})
async def healthz(state: State, response: Response) -> dict[str, Any]:
    """Both checks run concurrently with a short timeout, so a dead dependency answers 503 quickly."""
    kafka, postgres = await asyncio.gather(_check(state.kafka.ping()), _check(_select_one(state)))
    checks = {"kafka": kafka, "postgres": postgres}
    healthy = all(result == "ok" for result in checks.values())
    if not healthy:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return {"status": "ok" if healthy else "unavailable", "checks": checks}


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def prometheus_metrics(state: State) -> Response:
    """The API's own registry, with the worker group's lag on the commands topic refreshed.

    The workers' counters live in the worker processes (each serves JOBSTREAM_METRICS_PORT); from here
    only what is visible outside them is added: the consumer group's committed offsets.
    """
    await _refresh_lag(state)
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)


async def _refresh_lag(state: State) -> None:
    try:
        lag = await asyncio.wait_for(
            state.kafka.lag(state.settings.app_id, state.settings.topics.commands), CHECK_TIMEOUT_S
        )
    except Exception as exc:  # a scrape still succeeds without the lag; the gauge keeps its last value
        log.warning("consumer_lag_unavailable", error=repr(exc))
        return
    for partition, behind in lag.items():
        metrics.GROUP_LAG.labels(partition=str(partition)).set(behind)


async def _select_one(state: State) -> None:
    async with state.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def _check(probe: Awaitable[None]) -> str:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT_S)
    except Exception as exc:  # any failure means unhealthy; the reason goes in the body
        return f"error: {type(exc).__name__}: {exc}"[:300]
    return "ok"
