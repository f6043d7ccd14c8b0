"""`jobstream batches show ID`: a batch's progress through the HTTP API (`GET /batches/{id}`)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from streams.cli.api_client import ApiClient, ApiError
from streams.cli.jobs import connect
from streams.cli.output import console, emit_json, fail

app = typer.Typer(help="Follow batch jobs through the HTTP API (JOBSTREAM_API_URL, JOBSTREAM_API_TOKEN).")
app.callback()(connect)  # the same connection options as `jobstream jobs`

# Provider results in the order a reader expects them; "pending" = no result recorded yet.
RESULT_ORDER = ("succeeded", "errored", "canceled", "expired", "pending")
COUNT_ORDER = ("processing", "succeeded", "errored", "canceled", "expired")


@app.command()
def show(
    ctx: typer.Context,
    batch_id: Annotated[str, typer.Argument(help="The batch job's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON instead.")] = False,
) -> None:
    """How far a batch is: items with a provider result, and their child jobs by status."""
    url, token = ctx.obj
    try:
        progress = ApiClient(url, token).get(f"/batches/{quote(batch_id, safe='')}")  # ids are any string
    except ApiError as exc:
        fail(exc.message, exc.hint)
    if as_json:
        emit_json(progress)
    else:
        console.print(progress_view(progress))


def progress_view(progress: dict[str, Any]) -> Group:
    """A header, a bar of items with a result, and the counts behind it."""
    total = progress["total_items"]
    results: dict[str, int] = progress["results"]
    recorded = total - results.get("pending", 0)
    header = (
        f"batch {progress['id']}  status={progress['status']}  "
        f"provider={progress['provider']}/{progress['provider_batch_id']}"
    )
    bar = Table.grid(padding=(0, 1))
    bar.add_row(
        ProgressBar(total=max(total, 1), completed=recorded, width=40), f"{recorded}/{total} recorded"
    )
    parts: list[str | Table | Text] = [
        header,
        bar,
        _counts("results", results),
        _counts("child jobs", progress["job_statuses"]),
    ]
    state = progress.get("provider_state")
    if state:
        numbers = state.get("request_counts") or {}
        counts = ", ".join(f"{k} {numbers[k]}" for k in COUNT_ORDER if numbers.get(k))
        ended = f" ({state['outcome']})" if state.get("outcome") else ""
        parts.append(Text(f"provider says: {state['provider_status']}{ended}  {counts}".rstrip()))
    cancel = progress.get("provider_cancel")
    if cancel:
        answer = cancel["outcome"] or "owed"
        error = f"  ({cancel['error']})" if cancel.get("error") else ""
        done = ", finished" if cancel.get("finished_at") else ""
        parts.append(Text(f"provider cancel: {answer}{done}{error}"))  # Text: the provider's words, no markup
    return Group(*parts)


def _counts(label: str, counts: dict[str, int]) -> Table:
    order = [k for k in RESULT_ORDER if k in counts] + sorted(set(counts) - set(RESULT_ORDER))
    table = Table("", *order, box=None, header_style="bold")
    table.add_row(label, *(str(counts[k]) for k in order))
    return table
