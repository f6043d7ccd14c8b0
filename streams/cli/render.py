"""Human-readable views of jobs and events, shared by `jobs …` and `tail`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from rich.table import Table

JOB_COLUMNS = ("id", "job_type", "status", "stop_reason", "agent_id", "created_at", "completed_at")


def describe_event(event: dict[str, Any]) -> str:
    """What changed, in a few words: the part of an event a person reads first."""
    kind = event.get("type")
    job = event.get("job") or {}
    if kind == "job.status_changed":
        forced = " (forced)" if event.get("forced") else ""
        reason = f" [{event['stop_reason']}]" if event.get("stop_reason") else ""
        retried = f" (attempt {event['attempt']})" if event.get("attempt") else ""  # rule 15's re-pend
        return f"{event.get('from_status')} -> {event.get('to_status')}{reason}{forced}{retried}"
    if kind == "job.attempt_failed":
        return (
            f"attempt {event.get('attempt')}/{job.get('max_attempts')} failed [{event.get('stop_reason')}],"
            f" retry at {event.get('retry_at')}"
        )
    if kind == "job.command_rejected":
        why = event.get("reason") or {}
        return f"rejected {why.get('code')}: {why.get('message')}"
    if kind == "job.created":
        return f"created {job.get('job_type')} as {job.get('status')}"
    if kind == "job.messages_attached":
        return f"+{len(event.get('message_ids') or [])} message(s)"
    if kind == "job.metadata_updated":
        return f"metadata now {job.get('metadata')}"
    if kind == "job.callback_recorded":
        return f"callback status={job.get('callback_status_code')} error={job.get('callback_error')}"
    return ""


def event_line(event: dict[str, Any]) -> str:
    seq = event.get("seq")
    return (
        f"{event.get('occurred_at')}  {event.get('type'):<22} {event.get('job_id')}  "
        f"seq={seq if seq is not None else '-'}  {describe_event(event)}"
    )


def jobs_table(jobs: Iterable[dict[str, Any]]) -> Table:
    table = Table(*JOB_COLUMNS, box=None, header_style="bold")
    for job in jobs:
        table.add_row(*(_cell(job.get(column)) for column in JOB_COLUMNS))
    return table


def job_table(job: dict[str, Any]) -> Table:
    table = Table("field", "value", box=None, header_style="bold", show_header=False)
    for name, value in job.items():
        table.add_row(name, _cell(value))
    return table


def events_table(events: Iterable[dict[str, Any]]) -> Table:
    table = Table("seq", "type", "occurred_at", "change", box=None, header_style="bold")
    for event in events:
        seq, kind, at = (_cell(event.get(name)) for name in ("seq", "type", "occurred_at"))
        table.add_row(seq, kind, at, describe_event(event))
    return table


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()  # JSON, as the user would write it in `send --metadata`
    return str(value)
