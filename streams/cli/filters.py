"""The job filters as options, shared by `jobstream jobs list` and `jobstream stats` (docs/contract.md §9)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar, cast

import typer

from schemas.vocabulary import JobType, Status, StopReason

Statuses = Annotated[list[Status] | None, typer.Option("--status", help="Repeatable: any of these.")]
Type = Annotated[JobType | None, typer.Option("--job-type")]
Agents = Annotated[list[str] | None, typer.Option("--agent-id", help="Repeatable: any of these.")]
Reason = Annotated[StopReason | None, typer.Option("--stop-reason")]
Background = Annotated[bool | None, typer.Option("--background/--foreground")]
Batch = Annotated[str | None, typer.Option("--batch-id")]
Org = Annotated[str | None, typer.Option("--org", help="Can only narrow to your own.")]
Metadata = Annotated[
    list[str] | None,
    typer.Option(
        "--metadata",
        "-m",
        help="KEY=VALUE, repeatable (all must match): jobs whose metadata has KEY equal to the string VALUE,"
        " e.g. -m source_id=src-1.",
    ),
]
Longer = Annotated[
    float | None, typer.Option("--duration-gt", min=0, help="Finished jobs that took longer, s.")
]
Shorter = Annotated[
    float | None, typer.Option("--duration-lt", min=0, help="Finished jobs that took less, s.")
]


FILTERS: dict[str, Any] = {
    "status": Statuses,
    "job_type": Type,
    "agent_id": Agents,
    "stop_reason": Reason,
    "background": Background,
    "batch_id": Batch,
    "organization_id": Org,
    "metadata": Metadata,
    "duration_gt": Longer,
    "duration_lt": Shorter,
}
Command = TypeVar("Command", bound=Callable[..., None])


def with_filters(command: Command) -> Command:
    """Give `command` the filter options; it receives them as `filters`, the API's query parameters.

    One declaration for every command that filters jobs, so `jobs list` and `stats` cannot drift apart.
    """
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "filters"]
    added = [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=a)
        for n, a in FILTERS.items()
    ]

    @functools.wraps(command)
    def run(**options: Any) -> None:
        chosen = {name: options.pop(name) for name in FILTERS}
        command(filters=filter_params(**chosen), **options)

    run.__signature__ = inspect.Signature([*own, *added])  # type: ignore[attr-defined]
    return cast(Command, run)


def filter_params(
    status: list[Status] | None,
    job_type: JobType | None,
    agent_id: list[str] | None,
    stop_reason: StopReason | None,
    background: bool | None,
    batch_id: str | None,
    organization_id: str | None,
    metadata: list[str] | None,
    duration_gt: float | None,
    duration_lt: float | None,
) -> dict[str, Any]:
    """The API's query parameters for these options (`metadata.KEY` once per pair)."""
    params: dict[str, Any] = {
        "status": [s.value for s in status or ()],
        "job_type": job_type.value if job_type else None,
        "agent_id": agent_id or [],
        "stop_reason": stop_reason.value if stop_reason else None,
        "background": background,
        "batch_id": batch_id,
        "organization_id": organization_id,
        "duration_gt": duration_gt,
        "duration_lt": duration_lt,
    }
    for pair in metadata or ():
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--metadata")
        params.setdefault(f"metadata.{key}", []).append(value)
    return params
