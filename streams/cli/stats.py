"""`jobstream stats`: run statistics through the HTTP API (`GET /stats`, docs/contract.md §9)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from streams.cli.api_client import ApiClient, call, default_url
from streams.cli.filters import with_filters
from streams.cli.output import console, emit_json

PERCENTILES = ("p50", "p90", "p99")
Moment = Annotated[str | None, typer.Option(help="RFC 3339 with an offset, e.g. 2026-01-01T00:00:00Z.")]


@with_filters
def stats(
    filters: dict[str, Any],
    created_after: Moment = None,
    created_before: Moment = None,
    api_url: Annotated[str | None, typer.Option(envvar="JOBSTREAM_API_URL", help="Default: local.")] = None,
    token: Annotated[str | None, typer.Option(envvar="JOBSTREAM_API_TOKEN", help="Bearer token.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of tables.")] = False,
) -> None:
    """Counts by status, job type and stop reason, and duration p50/p90/p99, of the jobs `jobs list`'s
    filters select, created in [--created-after, --created-before)."""
    params = {**filters, "created_after": created_after, "created_before": created_before}
    found = call(lambda: ApiClient(api_url or default_url(), token).get("/stats", params))
    if as_json:
        emit_json(found)
        return
    console.print(f"{found['total']:,} jobs")
    for title in ("by_status", "by_job_type", "by_stop_reason"):
        console.print(_counts(title.removeprefix("by_"), found[title]))
    console.print(_spreads(found))


def _counts(title: str, counts: dict[str, int]) -> Table:
    table = Table(title, "jobs", box=None, header_style="bold")
    for name, count in sorted(counts.items(), key=lambda item: -item[1]):
        table.add_row(name, f"{count:,}")
    return table


def _spreads(found: dict[str, Any]) -> Table:
    table = Table("duration", "jobs", "p50", "p90", "p99", box=None, header_style="bold")
    for name, unit, scale in (("duration_s", "s", 1.0), ("total_duration_ns", "s", 1e-9)):
        spread = found[name]
        cells = (
            "" if spread[p] is None else f"{spread[p] * scale:.3f} {unit}" for p in ("p50", "p90", "p99")
        )
        table.add_row(name, f"{spread['count']:,}", *cells)
    return table
