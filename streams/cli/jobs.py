"""`jobstream jobs list|get|events|messages|delete`: jobs through the HTTP API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from schemas.vocabulary import ListOrder
from storage.queries.keyset import MAX_LIMIT
from streams.cli.api_client import ApiClient, call, default_url
from streams.cli.filters import with_filters
from streams.cli.output import console, emit_json, errors
from streams.cli.render import events_table, job_table, jobs_table

app = typer.Typer(help="Look jobs up through the HTTP API (JOBSTREAM_API_URL, JOBSTREAM_API_TOKEN).")

AsJson = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of a table.")]
JobId = Annotated[str, typer.Argument(help="The job id.")]


@app.callback()
def connect(
    ctx: typer.Context,
    api_url: Annotated[str | None, typer.Option(envvar="JOBSTREAM_API_URL", help="Default: local.")] = None,
    token: Annotated[str | None, typer.Option(envvar="JOBSTREAM_API_TOKEN", help="Bearer token.")] = None,
) -> None:
    """Connection options shared by every `jobs` command (normally from the environment)."""
    ctx.obj = (api_url or default_url(), token)


@app.command("list")
@with_filters
def list_jobs(
    ctx: typer.Context,
    filters: dict[str, Any],
    order_by: Annotated[
        ListOrder, typer.Option(help="duration (completed_at - created_at) lists only finished jobs.")
    ] = ListOrder.CREATED_AT,
    before: Annotated[str | None, typer.Option(help="A job id: only older jobs.")] = None,
    after: Annotated[str | None, typer.Option(help="A job id: only newer jobs.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Jobs per page.")] = 50,
    ascending: Annotated[bool, typer.Option("--ascending/--descending")] = True,
    every_page: Annotated[bool, typer.Option("--all", help="Follow next_cursor to the last page.")] = False,
    as_json: AsJson = False,
) -> None:
    """List your organization's jobs, oldest (or shortest) first unless --descending (docs/contract.md §9)."""
    params: dict[str, Any] = {
        **filters,
        "order_by": order_by.value,
        "before": before,
        "after": after,
        "limit": limit,
        "ascending": ascending,
    }
    api = _api(ctx)
    page = call(lambda: _all_pages(api, "/jobs", "jobs", params) if every_page else api.get("/jobs", params))
    if as_json:
        emit_json(page)
        return
    console.print(jobs_table(page["jobs"]))
    if page["next_cursor"]:
        direction = "after" if ascending else "before"
        errors.print(f"more: add --{direction} {page['next_cursor']} to the same command, or use --all")


@app.command()
def get(ctx: typer.Context, job_id: JobId, as_json: AsJson = False) -> None:
    """Show one job as Postgres has it now."""
    job = call(lambda: _api(ctx).get(_job_path(job_id)))
    _show(job, as_json, lambda: job_table(job))


@app.command()
def events(ctx: typer.Context, job_id: JobId, as_json: AsJson = False) -> None:
    """Show all of a job's applied events by seq (rejections are only on jobs.events: `jobstream tail`)."""
    found = call(lambda: _all_pages(_api(ctx), f"{_job_path(job_id)}/events", "events", _EVERY_PAGE))
    _show(found, as_json, lambda: events_table(found["events"]))


@app.command()
def messages(ctx: typer.Context, job_id: JobId, as_json: AsJson = False) -> None:
    """Show all the message ids attached to a job, in the order they were attached."""
    found = call(lambda: _all_pages(_api(ctx), f"{_job_path(job_id)}/messages", "messages", _EVERY_PAGE))
    if as_json:
        emit_json(found)
        return
    for message in found["messages"]:
        typer.echo(f"{message['created_at']}  {message['message_id']}")


@app.command()
def delete(
    ctx: typer.Context,
    job_id: JobId,
    command_id: Annotated[str | None, typer.Option(help="Reuse one to retry safely.")] = None,
    as_json: AsJson = False,
) -> None:
    """Delete a job and everything stored about it (docs/contract.md rule 14); `job.deleted` follows."""
    accepted = call(lambda: _api(ctx).request("DELETE", _job_path(job_id), {"command_id": command_id}))
    if as_json:
        emit_json(accepted)
    else:
        typer.echo(f"delete of {job_id} accepted (command_id {accepted['command_id']})")


# The largest page the API serves: a job's whole history in as few requests as it allows.
_EVERY_PAGE: dict[str, Any] = {"limit": MAX_LIMIT, "ascending": True}


def _all_pages(api: ApiClient, path: str, key: str, params: dict[str, Any]) -> dict[str, Any]:
    """Walk next_cursor in the listing's direction; progress on stderr, so no page is dropped silently.

    A spinner shows how far it got while it runs (on a terminal); a walk of more than one page ends
    with one line saying how many `key` it read in how many pages.
    """
    cursor_param = "after" if params["ascending"] else "before"
    collected: list[dict[str, Any]] = []
    pages = 0
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=errors, transient=True) as bar:
        task = bar.add_task(f"fetching {key}", total=None)
        while True:
            page = api.get(path, params)
            pages += 1
            collected.extend(page[key])
            bar.update(task, description=f"fetched {len(collected)} {key}")
            if not page["next_cursor"]:
                break
            params = {**params, cursor_param: page["next_cursor"]}
    if pages > 1:
        errors.print(f"fetched {len(collected)} {key} in {pages} pages")
    return {key: collected, "next_cursor": None}


def _job_path(job_id: str) -> str:
    """A job id is any string: quoted, so that `?`, `#` or `%` in it stay part of the id."""
    return f"/jobs/{quote(job_id, safe='')}"


def _show(value: Any, as_json: bool, table: Callable[[], Table]) -> None:
    if as_json:
        emit_json(value)
    else:
        console.print(table())


def _api(ctx: typer.Context) -> ApiClient:
    url, token = ctx.obj
    return call(lambda: ApiClient(url, token))
