"""`POST /commands`: the HTTP ingress; validated like the worker validates, then published durably."""

from __future__ import annotations

from typing import Annotated, Any

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Header, HTTPException, Request, Response, status
from starlette.requests import ClientDisconnect

from streams import tracing
from streams.api import metrics
from streams.api.auth import Organization
from streams.api.ingress import Refused, admit, read_body
from streams.api.models import CommandAccepted, Problem
from streams.api.openapi import COMMAND_REF
from streams.api.state import State
from streams.kafka.producer import OutRecord, json_record

router = APIRouter(tags=["commands"])

# Every route that publishes a command through `submit` can answer this.
KAFKA_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": Problem, "description": "Kafka did not acknowledge; retry with the same command_id."}
}

# W3C trace context (docs/contract.md §11): the command, its event and its callback join this trace.
Traceparent = Annotated[
    str | None,
    Header(max_length=tracing.MAX_HEADER_BYTES, description="W3C trace context; a new trace when absent."),
]


@router.post(
    "/commands",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CommandAccepted,
    responses={
        403: {"model": Problem, "description": "organization_id names another organization."},
        413: {"model": Problem, "description": "The body exceeds 1 MiB (a command is at most 256 KiB)."},
        422: {"model": Problem, "description": "Not a valid command (see `jobstream schema commands`)."},
        **KAFKA_UNAVAILABLE,
    },
    # The body is read by the worker's own parser (`admit`), not by FastAPI, so it is declared here.
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": COMMAND_REF}}}
    },
)
async def post_command(
    state: State, organization: Organization, request: Request, traceparent: Traceparent = None
) -> dict[str, str] | Response:
    """Accepted means durable on `jobs.commands`; the outcome arrives later as an event on the job."""
    try:
        body = await request.body()
    except ClientDisconnect:  # gone, or refused by BodyLimit (which answered 413 itself)
        return Response(status_code=status.HTTP_400_BAD_REQUEST)
    document = read_body(body)
    return await submit(state, organization, document, traceparent)


async def submit(
    state: State, organization: str, command: dict[str, Any] | Refused, traceparent: str | None
) -> dict[str, str]:
    """Admit a command as the worker would (422/403 otherwise), then publish it durably (503 if Kafka
    does not acknowledge, naming the command_id to retry with), in the caller's trace or a new one."""
    decision = command if isinstance(command, Refused) else admit(command, organization)
    if isinstance(decision, Refused):
        metrics.COMMANDS.labels("refused").inc()
        raise HTTPException(decision.status_code, {"code": decision.code, "message": decision.message})
    with tracing.span("jobstream.command.submit", traceparent, root=True, job_id=decision.job_id) as carried:
        headers = tracing.record_headers(carried)
        record = json_record(state.settings.topics.commands, decision.job_id, decision.document, headers)
        await _publish(state, record, decision.command_id)
    metrics.COMMANDS.labels("accepted").inc()
    return {"command_id": decision.command_id}


async def _publish(state: State, record: OutRecord, command_id: str) -> None:
    try:
        await state.producer.send_all([record])
    except KafkaError as exc:
        metrics.COMMANDS.labels("unavailable").inc()
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            {
                "code": "kafka_unavailable",
                "message": f"not published ({exc}); retry with command_id {command_id!r}",
            },
        ) from exc
