"""`jobstream api`: serve the HTTP query and ingress API with uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from streams.settings import Settings


def api(
    host: Annotated[str, typer.Option(help="Interface to bind; 127.0.0.1 keeps it off the network.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int | None, typer.Option(help="Default: JOBSTREAM_API_PORT, else 8080.")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
) -> None:
    """Serve the query API (docs/contract.md §9) in the foreground; tokens: JOBSTREAM_API_TOKENS(_FILE)."""
    import uvicorn

    from streams import logs, tracing
    from streams.api.app import create_api

    settings = Settings.from_env()  # a bad value (tokens too) is a ConfigError, reported by main()
    logs.configure(settings.log_level)
    tracing.configure("jobstream-api")
    uvicorn.run(create_api(settings), host=host, port=port or settings.api_port, log_level=log_level)
