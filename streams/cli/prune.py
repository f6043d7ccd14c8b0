"""`jobstream prune --older-than 30d`: retention's pass run once, for an operator or a cron job."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from storage.database import create_engine
from streams import logs
from streams.cli.output import emit_json, errors, fail
from streams.commands.retention import publish_deletes
from streams.kafka.producer import DurableProducer
from streams.settings import Settings
from streams.settings.service import MAX_RETENTION_DAYS

UNITS = {
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
}
AGE = re.compile(r"(\d+(?:\.\d+)?)([dhms])")


def parse_age(text: str) -> timedelta:
    """`30d`, `12h`, `90m`, `3600s`; anything else is a usage error naming the forms."""
    match = AGE.fullmatch(text.strip())
    if match is None:
        raise typer.BadParameter(f"{text!r} is not an age; write e.g. 30d, 12h, 90m or 3600s")
    age = float(match.group(1)) * UNITS[match.group(2)]
    if not timedelta(0) < age <= timedelta(days=MAX_RETENTION_DAYS):
        raise typer.BadParameter(f"{text!r}: the age must be above 0 and at most {MAX_RETENTION_DAYS:g} days")
    return age


def prune(
    older_than: Annotated[
        str,
        typer.Option(help="Delete terminal jobs that finished longer ago than this: 30d, 12h, 90m, 3600s."),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print {published, before} as JSON.")] = False,
) -> None:
    """Publish a `delete` for every terminal job older than --older-than (docs/contract.md rule 14);
    the worker removes them in order with their other commands. Safe to repeat: deletes are idempotent."""
    age = parse_age(older_than)
    settings = Settings.from_env()
    logs.configure(settings.log_level)
    before = datetime.now(UTC) - age
    try:
        published = asyncio.run(_prune(settings, before))
    except OSError as exc:
        fail(f"cannot reach Postgres or Kafka: {exc}", "start them (`make stack`) or check DATABASE_URL and "
             "KAFKA_BOOTSTRAP_SERVERS")  # fmt: skip
    if as_json:
        emit_json({"published": published, "before": before.isoformat()})
    else:
        errors.print(f"published {published} deletes for jobs finished before {before.isoformat()}")


async def _prune(settings: Settings, before: datetime) -> int:
    engine = create_engine(settings.postgres_url, pool_size=1, timeouts=settings.postgres_timeouts)
    try:
        async with DurableProducer(
            settings.bootstrap_servers, client_id=f"{settings.app_id}-prune"
        ) as producer:
            return await publish_deletes(
                engine,
                producer,
                settings.topics.commands,
                before,
                progress=lambda n: errors.print(f"  {n} deletes published…"),
            )
    finally:
        await engine.dispose()
