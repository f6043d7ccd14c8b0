"""`jobstream demo`: one job through its whole lifecycle, printed event by event."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

import typer

from streams.client import JobstreamClient


async def _demo(wait_s: float) -> None:
    job_id = f"demo-{uuid.uuid4().hex[:8]}"
    async with JobstreamClient() as client:
        events = client.events(job_ids={job_id}, from_beginning=False)
        first = asyncio.ensure_future(anext(events))
        await asyncio.sleep(1.0)  # let the consumer join before the first command is sent
        await client.create(job_id, metadata={"demo": True})
        typer.echo(f"demo: created {job_id}; waiting up to {wait_s:.0f}s for the worker ...", err=True)
        event = await asyncio.wait_for(first, wait_s)
        typer.echo(f"demo: {event.event_id:<24} {event.type:<20} status={event.job and event.job['status']}")
        for status in ("pending", "running", "completed"):
            await client.transition(job_id, status, stop_reason="end_turn" if status == "completed" else None)
            event = await asyncio.wait_for(anext(events), 30)
            typer.echo(
                f"demo: {event.event_id:<24} {event.type:<20} status={event.job and event.job['status']}"
            )
        await events.aclose()


def demo(
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for a worker to pick up the first command.")
    ] = 60,
) -> None:
    """Send a demo job created -> pending -> running -> completed and print its events."""
    try:
        asyncio.run(_demo(wait))
    except TimeoutError as exc:
        typer.echo("demo: no event arrived; is a worker running? start one with `jobstream worker`", err=True)
        raise typer.Exit(1) from exc
