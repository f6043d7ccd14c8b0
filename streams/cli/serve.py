"""`jobstream api`: serve the HTTP query and ingress API with uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from streams.cli.output import fail
from streams.settings import Settings


def api(
    host: Annotated[str, typer.Option(help="Interface to bind; 127.0.0.1 keeps it off the network.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int | None, typer.Option(help="Default: JOBSTREAM_API_PORT, else 8080.")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
) -> None:
    """Serve the query API (spec §9) in the foreground; tokens from JOBSTREAM_API_TOKENS(_FILE)."""
    import uvicorn

    from streams import logs
    from streams.api.app import create_api
    from streams.api.auth import TokenTable

    logs.configure()
    settings = Settings.from_env()
    try:
        tokens = TokenTable.from_env()
    except (OSError, ValueError) as exc:
        fail(str(exc), "fix JOBSTREAM_API_TOKENS / JOBSTREAM_API_TOKENS_FILE: token:organization_id pairs")
    if not len(tokens):
        typer.echo("warning: no tokens configured; every request will be a 401", err=True)
    uvicorn.run(create_api(settings, tokens), host=host, port=port or settings.api_port, log_level=log_level)
