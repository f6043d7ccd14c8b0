"""`jobstream demo`: one job through its whole lifecycle, printed event by event."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

import typer

from streams.client import JobstreamClient


async def _demo(wait_s: float, organization_id: str | None) -> str:
    job_id = f"demo-{uuid.uuid4().hex[:8]}"
    async with JobstreamClient(organization_id=organization_id) as client:
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
    return job_id


def demo(
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for a worker to pick up the first command.")
    ] = 60,
    org: Annotated[
        str | None,
        typer.Option(
            "--org",
            envvar="JOBSTREAM_ORGANIZATION_ID",
            help="The job's organization_id: whose API token (and console) sees it.",
        ),
    ] = None,
) -> None:
    """Send a demo job created -> pending -> running -> completed and print its events."""
    try:
        job_id = asyncio.run(_demo(wait, org))
    except TimeoutError as exc:
        typer.echo("demo: no event arrived; is a worker running? start one with `jobstream worker`", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"demo: done; see it with `jobstream jobs get {job_id}` or on the console", err=True)
