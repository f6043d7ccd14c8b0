"""Raw Kafka record -> command, validation failure, or dead letter (docs/contract.md §6). No I/O."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from schemas.bounds import MAX_COMMAND_ID_LENGTH, MAX_ID_LENGTH, json_depth, number_problem
from schemas.commands import COMMAND_ADAPTER, REQUIRED_FIELDS, Command, CreateCommand
from schemas.content import content_problem
from schemas.errors import describe_errors

MAX_COMMAND_BYTES = 256 * 1024
# A rejection event carries the command inside it, and orjson encodes at most 254 levels: deeper
# records could not even be answered, so they are dead letters (fields have their own, lower bound).
MAX_DOCUMENT_DEPTH = 64
# An escape for U+0000: `\u0000` after an even number of backslashes (an odd number escapes the first).
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
# orjson reads an integer beyond 64 bits as a float; a run of 19 digits sends the record through
# Python's json, which keeps it exact, so that the bounds see what was sent (rare: a slow path). Digits
# are folded to "0" and the run searched for: several times faster than a regular expression.
_FOLD_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19
_ID_LIMITS = {"command_id": MAX_COMMAND_ID_LENGTH, "job_id": MAX_ID_LENGTH}


@dataclass(frozen=True, slots=True)
class Parsed:
    command: Command
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Invalid:
    """A recognisable command with bad field values: rejected `validation_error` (rule 8)."""

    job_id: str
    command_id: str
    raw: dict[str, Any]
    message: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Not a command at all; goes to the dead-letter topic unchanged with this reason."""

    code: str
    message: str


ParseResult = Parsed | Invalid | DeadLetter


def decode_object(value: bytes | None, what: str) -> dict[str, Any] | DeadLetter:
    """The first step for every consumed record: a UTF-8 JSON object, or why it is dead-lettered."""
    if value is None:
        return DeadLetter("empty_value", f"the record has no value (tombstone); {what} is a JSON object")
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return DeadLetter("invalid_json", f"not UTF-8 JSON: {exc}")
    if not isinstance(raw, dict):
        return DeadLetter("not_an_object", f"{what} is a JSON object, got {type(raw).__name__}")
    return raw


def parse_command(key: bytes | None, value: bytes | None) -> ParseResult:
    if value is not None and len(value) > MAX_COMMAND_BYTES:
        return DeadLetter(
            "too_large", f"{len(value)} bytes exceeds the {MAX_COMMAND_BYTES}-byte command limit"
        )
    if value is not None and b"\\u0000" in value and _NUL_ESCAPE.search(value):
        # Postgres text and jsonb cannot hold U+0000 (in a key or a value); it would stall the partition.
        return DeadLetter("unsupported_character", "the command contains U+0000, which cannot be stored")
    raw = decode_object(value, "a command")
    if isinstance(raw, DeadLetter):
        return raw
    assert value is not None  # decode_object dead-letters a missing value
    if value.count(b"{") + value.count(b"[") > MAX_DOCUMENT_DEPTH and json_depth(raw) > MAX_DOCUMENT_DEPTH:
        return DeadLetter("too_deep", f"the command nests deeper than {MAX_DOCUMENT_DEPTH} levels")
    missing = _structural_problem(raw)
    if missing is not None:
        return DeadLetter(*missing)
    job_id, command_id = raw["job_id"], raw["command_id"]
    key_text = key.decode("utf-8", "replace") if key is not None else None
    if key_text != job_id:
        return DeadLetter(
            "key_mismatch", f"record key {repr(key_text)[:300]} differs from job_id {repr(job_id)[:300]}"
        )
    exact = json.loads(value) if _LONG_NUMBER in value.translate(_FOLD_DIGITS) else raw
    try:
        command = COMMAND_ADAPTER.validate_python(exact)
    except ValidationError as exc:
        # Every loc starts with the command type (the union's tag): the field path is what follows.
        return Invalid(job_id, command_id, raw, describe_errors(exc, "command", skip=1))
    problem = content_problem(command) if isinstance(command, CreateCommand) else None
    if problem is not None:
        return Invalid(job_id, command_id, raw, problem)
    return Parsed(command, raw)


def parse_document(document: dict[str, Any]) -> ParseResult:
    """A command built in Python (an HTTP body, a client call) -> what the worker will make of its bytes.

    Python holds numbers that JSON on the topic cannot carry as they are (orjson writes NaN and the
    infinities as null, and fails beyond 64 bits): those are refused here, naming where they are,
    before the document is encoded the way it will be published (datetimes as RFC 3339).
    """
    problem = number_problem(document)
    if problem is not None:
        return DeadLetter("not_json", problem)
    try:
        value = orjson.dumps(document)
    except orjson.JSONEncodeError as exc:  # a key that is not a string, a type JSON does not have
        return DeadLetter("not_json", f"the command cannot be encoded as JSON: {exc}")
    job_id = document.get("job_id")
    return parse_command(job_id.encode() if isinstance(job_id, str) else None, value)


def _structural_problem(raw: dict[str, Any]) -> tuple[str, str] | None:
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in REQUIRED_FIELDS:
        return "unknown_type", f"type {repr(kind)[:100]} is not one of {sorted(REQUIRED_FIELDS)}"
    required: dict[str, type] = {"command_id": str, "job_id": str, **REQUIRED_FIELDS[kind]}
    for name, json_type in required.items():
        if name not in raw:
            return "missing_field", f"{kind} needs field {name!r}"
        field_value = raw[name]
        if not isinstance(field_value, json_type) or (json_type is str and not field_value):
            return "wrong_type", f"field {name!r} must be a non-empty {json_type.__name__}"
    for name, limit in _ID_LIMITS.items():
        # The ids key the rejection that would answer an Invalid: too long to index, nothing can.
        if len(raw[name]) > limit:
            return "too_long", f"field {name!r} is {len(raw[name])} characters; the limit is {limit}"
    return None
