"""The baseline: a Letta-style handler — per command SELECT, validate, write, commit, then produce.

Run by `jobstream bench` in its own process: `python -m streams.devtools.bench.baseline SOURCE SINK GROUP`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.commands import COMMAND_ADAPTER
from schemas.events import rejected_event
from schemas.lifecycle import Applied, Duplicate, Rejected, decide
from storage.database import create_engine
from storage.job_store import job_from_row
from storage.tables import jobs
from streams.devtools.bench.child import kafka_clients, run_child
from streams.settings import Settings


async def letta_style(settings: Settings, source: str, sink: str, group: str, stop: asyncio.Event) -> None:
    """One round trip per command, as `JobManager.update_job_by_id_async` does (no batching, no lock)."""
    engine = create_engine(settings.postgres_url)
    try:
        await _serve(settings.bootstrap_servers, engine, source, sink, group, stop)
    finally:
        await engine.dispose()


async def _serve(
    bootstrap: str, engine: AsyncEngine, source: str, sink: str, group: str, stop: asyncio.Event
) -> None:
    applied_ids: dict[str, set[str]] = {}
    async with kafka_clients(bootstrap, source, group) as (consumer, producer):
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=100)
            for messages in batch.values():
                for message in messages:
                    event = await _handle(engine, message.value, applied_ids)
                    await producer.send_and_wait(sink, orjson.dumps(event), key=message.key)
                    await consumer.commit()


async def _handle(engine: AsyncEngine, value: bytes, applied_ids: dict[str, set[str]]) -> dict[str, object]:
    command = COMMAND_ADAPTER.validate_json(value)
    now = datetime.now(UTC)
    async with engine.begin() as connection:
        row = (await connection.execute(select(jobs).where(jobs.c.id == command.job_id))).mappings().first()
        job = job_from_row(row) if row is not None else None
        seen = job is not None and command.command_id in applied_ids.get(job.id, ())
        decision = decide(job, command, now, 0 if seen else None)
        if isinstance(decision, Duplicate):
            return {"command_id": command.command_id, "duplicate": True}
        if isinstance(decision, Rejected):
            return rejected_event(
                command.job_id, command.command_id, decision.code, decision.message, {}, job, now
            )
        if not isinstance(decision, Applied):  # a heartbeat: the bench's workload sends none
            return {"command_id": command.command_id, "heartbeat": True}
        values = decision.job.public()
        for name in ("created_at", "updated_at", "completed_at", "expires_at", "callback_sent_at"):
            values[name] = getattr(decision.job, name)
        if job is None:
            await connection.execute(insert(jobs).values(**values))
        else:
            await connection.execute(update(jobs).where(jobs.c.id == job.id).values(**values))
    applied_ids.setdefault(command.job_id, set()).add(command.command_id)
    return decision.event


if __name__ == "__main__":
    run_child(letta_style)
