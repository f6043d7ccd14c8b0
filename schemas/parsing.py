"""Raw Kafka record -> command, validation failure, or dead letter (spec §6). No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from schemas.commands import COMMAND_ADAPTER, REQUIRED_FIELDS, Command

MAX_COMMAND_BYTES = 256 * 1024


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
    if value is not None and b"\\u0000" in value:
        # Postgres text and jsonb cannot hold U+0000; letting it through would stall the partition.
        return DeadLetter("unsupported_character", "the command contains U+0000, which cannot be stored")
    raw = decode_object(value, "a command")
    if isinstance(raw, DeadLetter):
        return raw
    missing = _structural_problem(raw)
    if missing is not None:
        return DeadLetter(*missing)
    job_id, command_id = raw["job_id"], raw["command_id"]
    key_text = key.decode("utf-8", "replace") if key is not None else None
    if key_text != job_id:
        return DeadLetter("key_mismatch", f"record key {key_text!r} differs from job_id {job_id!r}")
    try:
        command = COMMAND_ADAPTER.validate_python(raw)
    except ValidationError as exc:
        return Invalid(job_id, command_id, raw, _describe(exc))
    return Parsed(command, raw)


def _structural_problem(raw: dict[str, Any]) -> tuple[str, str] | None:
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in REQUIRED_FIELDS:
        return "unknown_type", f"type {kind!r} is not one of {sorted(REQUIRED_FIELDS)}"
    required: dict[str, type] = {"command_id": str, "job_id": str, **REQUIRED_FIELDS[kind]}
    for name, json_type in required.items():
        if name not in raw:
            return "missing_field", f"{kind} needs field {name!r}"
        field_value = raw[name]
        if not isinstance(field_value, json_type) or (json_type is str and not field_value):
            return "wrong_type", f"field {name!r} must be a non-empty {json_type.__name__}"
    return None


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in error["loc"][1:]) or "command"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
