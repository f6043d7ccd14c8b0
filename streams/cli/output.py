"""How every CLI command reports: JSON for scripts, and errors that say what to do next."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import orjson
import typer
from rich.console import Console

# Piped output is for grep and less, not a terminal: never wrap a job id across lines there.
console = Console(width=None if sys.stdout.isatty() else 4096)
errors = Console(stderr=True)


def emit_json(value: Any) -> None:
    """One JSON document per line on stdout, so `--json` output pipes into jq line by line."""
    typer.echo(orjson.dumps(value).decode())


def fail(message: str, hint: str | None = None, code: int = 1) -> NoReturn:
    """Exit with `error: …` and, when there is one, the next step on its own line."""
    typer.echo(f"error: {message}", err=True)
    if hint:
        typer.echo(f"hint: {hint}", err=True)
    raise typer.Exit(code)
