"""`jobstream stack up|down|status|env`: the local Kafka and Postgres."""

from __future__ import annotations

import shlex
import time
from typing import TYPE_CHECKING, Annotated

import typer

from streams.cli.local_extra import require_local_extra
from streams.devtools.stack.exceptions import StackError
from streams.settings import Settings

if TYPE_CHECKING:  # the stack's modules need the `local` extra: imported in _stack() only
    from streams.devtools.stack.process import ServiceStatus
    from streams.devtools.stack.stack import LocalStack

app = typer.Typer(
    help="Run the local stack: Apache Kafka (KRaft) and PostgreSQL on 127.0.0.1.", no_args_is_help=True
)


def _stack() -> LocalStack:
    require_local_extra("stack")
    from streams.devtools.stack.stack import LocalStack

    return LocalStack(Settings.from_env())


@app.command()
def up(
    brokers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=9,
            help="Kafka nodes (combined broker+controller); 3 replicates topics 3 ways with"
            " min.insync.replicas=2. Changing it resets Kafka's data. Default: as last time (1 at first).",
        ),
    ] = None,
) -> None:
    """Start Kafka and Postgres (fetching Kafka's jars once); a second `up` reports the running stack."""
    stack = _stack()
    started = time.monotonic()
    try:
        stack.choose_ports()
        if brokers is not None and stack.resize_kafka(brokers):
            typer.echo(f"kafka: {brokers} node(s) on fresh storage", err=True)
        timings = stack.up()
    except StackError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    for name, seconds in timings.items():
        typer.echo(f"{name}: ready in {seconds:.1f}s", err=True)
    typer.echo(f"stack ready in {time.monotonic() - started:.1f}s", err=True)
    status()


@app.command()
def down() -> None:
    """Stop both services; data stays under the state folder for the next `up`."""
    _stack().down()
    typer.echo("stack stopped", err=True)


@app.command()
def status() -> None:
    """Each service's address, pid and whether it is up."""
    for report in _stack().status():
        typer.echo(_line(report))


def _line(report: ServiceStatus) -> str:
    state = "up" if report.running else "down"
    extra = " (external)" if report.external else ""
    pid = f" pid={report.pid}" if report.pid else ""
    rss = f" rss={report.rss_mb:.0f}MiB" if report.rss_mb else ""
    return f"{report.name:<9} {state:<5} {report.address}{pid}{rss}{extra}"


@app.command()
def env() -> None:
    """Print `export …` lines: eval "$(jobstream stack env)" points any tool at this stack."""
    for name, value in _stack().env().items():
        typer.echo(f"export {name}={shlex.quote(value)}")
