"""`POST /commands`: the HTTP ingress; validated like the worker validates, then published durably."""

from __future__ import annotations

from aiokafka.errors import KafkaError
from fastapi import APIRouter, HTTPException, Request, Response, status
from starlette.requests import ClientDisconnect

from streams.api.auth import Organization
from streams.api.ingress import Refused, admit, read_body
from streams.api.models import CommandAccepted, Problem
from streams.api.openapi import COMMAND_REF
from streams.api.state import State
from streams.kafka.producer import json_record

router = APIRouter(tags=["commands"])


@router.post(
    "/commands",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CommandAccepted,
    responses={
        403: {"model": Problem, "description": "organization_id names another organization."},
        413: {"model": Problem, "description": "The body exceeds 1 MiB (a command is at most 256 KiB)."},
        422: {"model": Problem, "description": "Not a valid command (see `jobstream schema commands`)."},
        503: {"model": Problem, "description": "Kafka did not acknowledge; retry with the same command_id."},
    },
    # The body is read by the worker's own parser (`admit`), not by FastAPI, so it is declared here.
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": COMMAND_REF}}}
    },
)
async def post_command(
    state: State, organization: Organization, request: Request
) -> dict[str, str] | Response:
    """Accepted means durable on `jobs.commands`; the outcome arrives later as an event on the job."""
    try:
        body = await request.body()
    except ClientDisconnect:  # gone, or refused by BodyLimit (which answered 413 itself)
        return Response(status_code=status.HTTP_400_BAD_REQUEST)
    document = read_body(body)
    decision = document if isinstance(document, Refused) else admit(document, organization)
    if isinstance(decision, Refused):
        raise HTTPException(decision.status_code, {"code": decision.code, "message": decision.message})
    record = json_record(state.settings.topics.commands, decision.job_id, decision.document)
    try:
        await state.producer.send_all([record])
    except KafkaError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            {
                "code": "kafka_unavailable",
                "message": f"not published ({exc}); retry with command_id {decision.command_id!r}",
            },
        ) from exc
    return {"command_id": decision.command_id}
