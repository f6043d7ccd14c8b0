"""Decide whether an HTTP-submitted command may be published, using the worker's own parser. No I/O."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from schemas.parsing import MAX_DOCUMENT_DEPTH, DeadLetter, Invalid, parse_document

# Produced by the service only: a tenant forging a callback record would rewrite delivery history, and a
# `retry` would end a backoff early (rule 15), a `heartbeat_timeout` fail a live runner (rule 16).
SERVICE_ONLY_TYPES = frozenset({"record_callback", "retry", "heartbeat_timeout"})


@dataclass(frozen=True, slots=True)
class Admitted:
    """Publish `document` keyed by `job_id`."""

    job_id: str
    command_id: str
    document: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Refused:
    """Publish nothing; answer `status_code` with `code` and `message`."""

    status_code: int
    code: str
    message: str


# The service's own deterministic ids (expiry, callback outcomes, batch results): a caller reusing one
# would turn the service's later command into a duplicate that never applies.
RESERVED_COMMAND_ID_PREFIXES = (
    "expire:", "retention:", "callback:", "batch-item:", "batch-running:", "batch-end:", "retry:",
    "heartbeat-timeout:",
)  # fmt: skip


def read_body(body: bytes) -> dict[str, Any] | Refused:
    """The request body as a JSON object, or why it is none (422, never the framework's bare 400).

    Read with Python's json, not orjson: NaN, the infinities and integers beyond 64 bits still parse,
    so that `admit` refuses them naming where they are, instead of a float quietly taking their place.
    """
    try:
        document = json.loads(body.decode("utf-8"))
    except RecursionError:
        return Refused(422, "too_deep", f"the body nests deeper than {MAX_DOCUMENT_DEPTH} levels")
    except ValueError as exc:  # not UTF-8, not JSON, or an integer of more digits than Python reads
        return Refused(422, "invalid_json", f"the body is not UTF-8 JSON: {exc}")
    if not isinstance(document, dict):
        return Refused(422, "not_an_object", f"a command is a JSON object, got {type(document).__name__}")
    return document


def admit(body: dict[str, Any], organization_id: str) -> Admitted | Refused:
    """Stamp the caller's organization and a command_id, then validate exactly as the worker will.

    Running the worker's parser (not a looser check: bounds, strict types and the checks of a create
    that need no job state) means nothing published here can end up in the dead-letter topic or be
    rejected `validation_error`: the caller hears about it now, as a 422. A body naming another
    organization is refused 403: the token, not the body, says who is asking.
    """
    claimed = body.get("organization_id")
    if claimed is not None and claimed != organization_id:
        return Refused(403, "forbidden", "organization_id differs from the organization of your token")
    kind = body.get("type")
    if isinstance(kind, str) and kind in SERVICE_ONLY_TYPES:  # a list or an object is not hashable
        return Refused(422, "service_only", f"{kind} commands are produced by the service itself")
    command_id = body.get("command_id")
    if isinstance(command_id, str) and command_id.startswith(RESERVED_COMMAND_ID_PREFIXES):
        return Refused(
            422,
            "reserved_command_id",
            f"command ids starting {RESERVED_COMMAND_ID_PREFIXES} are the service's",
        )
    document = {**body, "organization_id": organization_id}
    document.setdefault("command_id", str(uuid.uuid4()))
    parsed = parse_document(document)
    if isinstance(parsed, DeadLetter):
        return Refused(422, parsed.code, parsed.message)
    if isinstance(parsed, Invalid):
        return Refused(422, "validation_error", parsed.message)
    return Admitted(parsed.command.job_id, parsed.command.command_id, document)
