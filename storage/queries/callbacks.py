"""docs/contract.md §7 as the API and the console show it: one job's callback deliveries, their attempts and
state, and the circuit breaker of the endpoint each goes to."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.tables import callback_deliveries, callback_endpoints

MAX_DELIVERIES = 100  # one per terminal event: a job has one or two, never a page's worth


async def job_deliveries(engine: AsyncEngine, organization_id: str, job_id: str) -> list[dict[str, Any]]:
    """The job's delivery rows (oldest first), only within the caller's organization, each with its
    endpoint's breaker state now ("closed" when it has no failures on record) and, while it is open, when
    the next probe is due."""
    table, endpoints = callback_deliveries, callback_endpoints
    breaker = and_(endpoints.c.app_id == table.c.app_id, endpoints.c.endpoint == table.c.endpoint)
    query = (
        select(
            table.c.event_id,
            table.c.url,
            table.c.state,
            table.c.attempts,
            table.c.last_status_code,
            table.c.last_error,
            table.c.next_attempt_at,
            table.c.created_at,
            table.c.finished_at,
            table.c.held.label("deferred"),
            func.coalesce(endpoints.c.state, "closed").label("endpoint_state"),
            endpoints.c.next_probe_at,
        )
        .select_from(table.outerjoin(endpoints, breaker))
        .where(table.c.job_id == job_id, table.c.organization_id == organization_id)
        .order_by(table.c.created_at, table.c.event_id)
        .limit(MAX_DELIVERIES)
    )
    async with engine.connect() as connection:
        return [dict(row) for row in (await connection.execute(query)).mappings()]
