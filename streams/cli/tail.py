"""`jobstream tail`: follow jobs.events live, filtered by job, status or event type."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from aiokafka.errors import KafkaError

from schemas.vocabulary import EventType, Status
from streams.cli.output import emit_json, fail
from streams.cli.render import event_line
from streams.settings import Settings


def tail(
    job: Annotated[list[str] | None, typer.Option(help="Only this job (repeatable).")] = None,
    status: Annotated[list[Status] | None, typer.Option(help="Only events leaving the job in it.")] = None,
    event_type: Annotated[list[EventType] | None, typer.Option("--type", help="Repeatable.")] = None,
    from_beginning: Annotated[bool, typer.Option(help="Replay the topic first.")] = False,
    count: Annotated[int | None, typer.Option(min=1, help="Exit after this many events.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One event per line as JSON.")] = False,
) -> None:
    """Follow jobs.events live, straight from Kafka (KAFKA_BOOTSTRAP_SERVERS, JOBSTREAM_NAMESPACE)."""
    follow = _follow(
        set(job) if job else None,
        {s.value for s in status} if status else None,
        {t.value for t in event_type} if event_type else None,
        from_beginning,
        count,
        as_json,
    )
    try:
        asyncio.run(follow)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except KafkaError as exc:
        servers = Settings.from_env().bootstrap_servers
        fail(f"cannot reach Kafka at {servers} ({exc})", "is the stack up? `jobstream stack up`")


async def _follow(
    job_ids: set[str] | None,
    statuses: set[str] | None,
    types: set[str] | None,
    from_beginning: bool,
    count: int | None,
    as_json: bool,
) -> None:
    from streams.client import JobstreamClient  # aiokafka import deferred: `jobstream --help` stays quick

    client = JobstreamClient()

    def ready() -> None:
        # On stderr so stdout stays pure events; scripts and tests wait for this line.
        typer.echo(f"following {client.topics.events} (Ctrl-C to stop)", err=True)

    seen = 0
    stream = client.events(
        job_ids=job_ids, types=types, statuses=statuses, from_beginning=from_beginning, on_ready=ready
    )
    try:
        async for event in stream:
            document = event.model_dump(mode="json", exclude_unset=True)
            if as_json:
                emit_json(document)
            else:
                typer.echo(event_line(document))
            seen += 1
            if count is not None and seen >= count:
                return
    finally:
        await stream.aclose()
