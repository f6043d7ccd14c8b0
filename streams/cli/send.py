"""`jobstream send create|transition|cancel|metadata|messages|heartbeat|delete`: publish commands to Kafka."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
import typer
from aiokafka.errors import KafkaError

from schemas.events import Event
from schemas.vocabulary import JobType, Status, StopReason
from streams.cli.output import emit_json, fail
from streams.cli.render import event_line
from streams.settings import ConfigError, Settings

app = typer.Typer(help="Publish commands to jobs.commands (KAFKA_BOOTSTRAP_SERVERS, JOBSTREAM_NAMESPACE).")

JobId = Annotated[str, typer.Argument(help="The job id (the record key).")]
Org = Annotated[
    str | None, typer.Option("--org", envvar="JOBSTREAM_ORGANIZATION_ID", help="organization_id to stamp.")
]
CommandId = Annotated[str | None, typer.Option(help="Reuse one to retry safely; generated when unset.")]
Wait = Annotated[bool, typer.Option("--wait", help="Wait for the event the command produces.")]
Timeout = Annotated[float, typer.Option(help="Seconds --wait waits.")]
Metadata = Annotated[str | None, typer.Option(help="A JSON object, e.g. '{\"k\": 1}'.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print {job_id, command_id[, event]} as JSON.")]


@app.command()
def create(
    job_id: Annotated[str | None, typer.Argument(help="Generated when unset.")] = None,
    job_type: JobType = JobType.JOB,
    status: Annotated[Status, typer.Option(help="Initial: created, pending or running.")] = Status.CREATED,
    metadata: Metadata = None,
    agent_id: str | None = None,
    background: Annotated[bool | None, typer.Option("--background/--foreground")] = None,
    callback_url: str | None = None,
    timeout_seconds: float | None = None,
    retry_policy: Annotated[
        str | None,
        typer.Option(help="Rule 15, a JSON object, e.g. '{\"max_attempts\": 3}'."),
    ] = None,
    heartbeat_timeout_seconds: Annotated[
        float | None, typer.Option(help="Rule 16: fail the running job after this long without a heartbeat.")
    ] = None,
    batch_id: str | None = None,
    org: Org = None,
    command_id: CommandId = None,
    wait: Wait = False,
    timeout: Timeout = 30.0,
    as_json: AsJson = False,
) -> None:
    """Create a job; prints its id (generated when not given)."""
    command = {
        "type": "create",
        "job_id": job_id or str(uuid.uuid4()),
        "job_type": job_type.value,
        "status": status.value,
        "metadata": _json_object(metadata, "--metadata"),
        "agent_id": agent_id,
        "background": background,
        "callback_url": callback_url,
        "timeout_seconds": timeout_seconds,
        "retry_policy": _json_object(retry_policy, "--retry-policy"),
        "heartbeat_timeout_seconds": heartbeat_timeout_seconds,
        "batch_id": batch_id,
    }
    _publish(command, org, command_id, wait, timeout, as_json)


@app.command()
def transition(
    job_id: JobId,
    status: Annotated[Status, typer.Argument(help="The target status.")],
    stop_reason: StopReason | None = None,
    metadata: Annotated[str | None, typer.Option(help="A JSON Merge Patch for the metadata.")] = None,
    expected_status: Annotated[Status | None, typer.Option(help="Only if the job is in this status.")] = None,
    force: Annotated[bool, typer.Option(help="Operator repair: skip the transition rules.")] = False,
    org: Org = None,
    command_id: CommandId = None,
    wait: Wait = False,
    timeout: Timeout = 30.0,
    as_json: AsJson = False,
) -> None:
    """Move a job to another status (rule 2 decides whether it may)."""
    command = {
        "type": "transition",
        "job_id": job_id,
        "status": status.value,
        "stop_reason": stop_reason.value if stop_reason else None,
        "metadata": _json_object(metadata, "--metadata"),
        "expected_status": expected_status.value if expected_status else None,
        "force": force or None,
    }
    _publish(command, org, command_id, wait, timeout, as_json)


@app.command()
def cancel(
    job_id: JobId,
    stop_reason: Annotated[StopReason | None, typer.Option(help="Default: cancelled.")] = None,
    org: Org = None,
    command_id: CommandId = None,
    wait: Wait = False,
    timeout: Timeout = 30.0,
    as_json: AsJson = False,
) -> None:
    """Cancel a job (a transition to cancelled)."""
    command = {"type": "cancel", "job_id": job_id, "stop_reason": stop_reason.value if stop_reason else None}
    _publish(command, org, command_id, wait, timeout, as_json)


@app.command()
def metadata(
    job_id: JobId,
    patch: Annotated[
        str | None, typer.Argument(help='A JSON Merge Patch, e.g. \'{"k": 1, "gone": null}\'.')
    ] = None,
    ttft_ns: Annotated[int | None, typer.Option(help="Time to first token, in nanoseconds.")] = None,
    total_duration_ns: Annotated[int | None, typer.Option(help="The whole run, in nanoseconds.")] = None,
    org: Org = None,
    command_id: CommandId = None,
    wait: Wait = False,
    timeout: Timeout = 30.0,
    as_json: AsJson = False,
) -> None:
    """Patch a job's metadata and/or record its timings, without changing its status (any status)."""
    command = {
        "type": "update_metadata",
        "job_id": job_id,
        "metadata": _json_object(patch, "PATCH"),
        "ttft_ns": ttft_ns,
        "total_duration_ns": total_duration_ns,
    }
    _publish(command, org, command_id, wait, timeout, as_json)


@app.command()
def messages(
    job_id: JobId,
    message_ids: Annotated[list[str], typer.Argument(help="One or more message ids.")],
    org: Org = None,
    command_id: CommandId = None,
    wait: Wait = False,
    timeout: Timeout = 30.0,
    as_json: AsJson = False,
) -> None:
    """Attach message ids to a job (the audit link)."""
    command = {"type": "attach_messages", "job_id": job_id, "message_ids": message_ids}
    _publish(command, org, command_id, wait, timeout, as_json)


@app.command()
def heartbeat(
    job_id: JobId,
    org: Org = None,
    command_id: CommandId = None,
    as_json: AsJson = False,
) -> None:
    """Tell the service a running job's runner is alive (rule 16). It makes no event, so there is no
    --wait: a job that is not running answers with a rejection (`jobstream tail --job`)."""
    _publish({"type": "heartbeat", "job_id": job_id}, org, command_id, False, 0.0, as_json)


@app.command()
def delete(
    job_id: JobId,
    org: Org = None,
    command_id: CommandId = None,
    wait: Wait = False,
    timeout: Timeout = 30.0,
    as_json: AsJson = False,
) -> None:
    """Delete a job with everything stored about it (docs/contract.md rule 14)."""
    _publish({"type": "delete", "job_id": job_id}, org, command_id, wait, timeout, as_json)


def _publish(
    command: dict[str, Any],
    org: str | None,
    command_id: str | None,
    wait: bool,
    timeout_s: float,
    as_json: bool,
) -> None:
    """Send, optionally wait for the outcome, and report; exit 1 when the service rejected it."""
    document = {name: value for name, value in command.items() if value is not None}
    document["command_id"] = command_id or str(uuid.uuid4())
    job_id = document["job_id"]
    try:
        event = asyncio.run(_send(document, org, wait, timeout_s))
    except ConfigError:
        raise  # a setting, not the command: reported by the entry point
    except ValueError as exc:  # the client's InvalidCommand: the worker's own parser named the field
        fail(str(exc), "see `jobstream schema commands`", 2)
    except KafkaError as exc:
        servers = Settings.from_env().bootstrap_servers
        fail(f"cannot reach Kafka at {servers} ({exc})", "is the stack up? `jobstream stack up`")
    except TimeoutError:
        fail(
            f"sent, but no event for command {document['command_id']} within {timeout_s:.0f}s",
            "is a worker running? start one with `jobstream worker`",
        )
    rejected = event is not None and event.type == "job.command_rejected"
    if as_json:
        out: dict[str, Any] = {"job_id": job_id, "command_id": document["command_id"]}
        if event is not None:
            out["event"] = event.model_dump(mode="json", exclude_unset=True)
        emit_json(out)
    else:
        typer.echo(job_id)  # alone on stdout, so `JOB=$(jobstream send create)` works
        typer.echo(_outcome_line(document, event), err=True)
    if rejected:
        raise typer.Exit(1)


def _outcome_line(document: dict[str, Any], event: Event | None) -> str:
    if event is None:
        return (
            f"{document['type']} sent as command {document['command_id']}; "
            f"follow it with `jobstream tail --job {document['job_id']}`"
        )
    verdict = "rejected" if event.type == "job.command_rejected" else "applied"
    return f"{document['type']} {verdict}: {event_line(event.model_dump(mode='json'))}"


async def _send(document: dict[str, Any], org: str | None, wait: bool, timeout_s: float) -> Event | None:
    """With `wait`, the event consumer is positioned before the command goes out, so it cannot miss it."""
    from streams.client import JobstreamClient  # aiokafka import deferred: `jobstream --help` stays quick

    async with JobstreamClient(organization_id=org) as client:
        if not wait:
            await client.send(document)
            return None
        ready = asyncio.Event()
        stream = client.events(job_ids={document["job_id"]}, on_ready=ready.set)
        outcome = asyncio.ensure_future(_outcome_of(stream, document["command_id"]))
        try:
            async with asyncio.timeout(timeout_s):
                positioned = asyncio.ensure_future(ready.wait())
                await asyncio.wait([outcome, positioned], return_when=asyncio.FIRST_COMPLETED)
                if outcome.done():  # the consumer failed before it was ready
                    return outcome.result()
                await client.send(document)
                return await outcome
        finally:
            outcome.cancel()
            await stream.aclose()  # stops the consumer now, not whenever the generator is collected


async def _outcome_of(stream: AsyncIterator[Event], command_id: str) -> Event:
    async for event in stream:
        if event.command_id == command_id:
            return event
    raise RuntimeError("the event stream ended")


def _json_object(text: str | None, name: str) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        fail(f"{name} is not JSON ({exc})", 'quote it for the shell: \'{"key": "value"}\'', 2)
    if not isinstance(value, dict):
        fail(f"{name} must be a JSON object, got {type(value).__name__}", code=2)
    return value
