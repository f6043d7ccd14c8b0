"""`jobstream callbacks endpoints|enable`: the operator's view of the callback circuit breakers
(docs/contract.md §7), straight from Postgres, where the dispatchers keep them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from schemas.callbacks import endpoint_key
from storage.callback_endpoints import EndpointRow, EndpointStore
from storage.callback_queue import DeliveryStore
from storage.database import create_engine
from streams.callbacks.breaker import Breaker
from streams.cli.output import console, emit_json, errors, fail
from streams.settings import Settings

app = typer.Typer(help="Callback endpoints and their circuit breakers.", no_args_is_help=True)
T = TypeVar("T")


@app.command()
def endpoints(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per endpoint.")] = False,
) -> None:
    """Endpoints with failures on record (a success forgets them): state, failures in a row, since when."""
    rows = _run(lambda breaker: breaker.endpoints.rows())
    for row in rows:
        if as_json:
            emit_json(_as_dict(row))
        else:
            since = row.disabled_at or row.opened_at or row.failing_since
            console.print(
                f"{row.endpoint}  {row.state}  failures={row.failures}  since={since.isoformat()}"
                f"  last_error={row.last_error!r}",
                highlight=False,
                markup=False,
            )
    if not rows and not as_json:
        errors.print("no endpoint has failures on record")


@app.command()
def enable(
    target: Annotated[
        str, typer.Argument(help="An endpoint (scheme://host:port, or any URL on it) or a host name.")
    ],
) -> None:
    """Enable a disabled endpoint again (or reset an open breaker): its failures are forgotten and the
    deliveries it holds are due at once. Deliveries it already ended as endpoint_disabled stay ended."""
    key = endpoint_key(target) if "://" in target else None
    lookup = key[0] if key is not None else target.strip().lower()
    enabled = _run(lambda breaker: breaker.enable(lookup))
    if not enabled:
        fail(f"no endpoint {lookup!r} has failures on record", "see `jobstream callbacks endpoints`")
    for endpoint, state in enabled:
        errors.print(f"enabled {endpoint} (was {state})", highlight=False, markup=False)


def _run(step: Callable[[Breaker], Awaitable[T]]) -> T:
    settings = Settings.from_env()

    async def run() -> T:
        engine = create_engine(settings.postgres_url, pool_size=1, timeouts=settings.postgres_timeouts)
        try:
            deliveries = DeliveryStore(engine, settings.deployment)
            breaker = Breaker(EndpointStore(engine, settings.deployment), deliveries, settings.callbacks)
            return await step(breaker)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except OSError as exc:
        fail(f"cannot reach Postgres: {exc}", "start it (`make stack`) or check DATABASE_URL")


def _as_dict(row: EndpointRow) -> dict[str, object]:
    return {
        name: value.isoformat() if hasattr(value, "isoformat") else value for name, value in vars(row).items()
    }
