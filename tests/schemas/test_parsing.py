"""Raw records -> command, validation_error, or dead letter (spec §6, rule 8)."""

from __future__ import annotations

import orjson
import pytest

from schemas.parsing import MAX_COMMAND_BYTES, DeadLetter, Invalid, Parsed, parse_command


def raw(**fields: object) -> bytes:
    return orjson.dumps({"command_id": "c1", "job_id": "j1", **fields})


@pytest.mark.parametrize(
    "key,value,code",
    [
        (b"j1", b"\x00\xff\xfe", "invalid_json"),
        (b"j1", b'{"command_id": "c1", "job_id": "j1", "type": "cre', "invalid_json"),
        (b"j1", b"[1, 2]", "not_an_object"),
        (b"j1", raw(type="explode"), "unknown_type"),
        (b"j1", raw(), "unknown_type"),
        (b"j1", orjson.dumps({"type": "create", "job_id": "j1"}), "missing_field"),
        (b"j1", orjson.dumps({"type": "create", "job_id": 7, "command_id": "c"}), "wrong_type"),
        (b"j1", raw(type="transition"), "missing_field"),
        (b"j1", raw(type="transition", status=5), "wrong_type"),
        (b"j1", raw(type="update_metadata", metadata="x"), "wrong_type"),
        (b"other", raw(type="create"), "key_mismatch"),
        (None, raw(type="create"), "key_mismatch"),
        (b"j1", None, "empty_value"),
        (b"j1", b'{"a": "' + b"x" * MAX_COMMAND_BYTES + b'"}', "too_large"),
    ],
)
def test_dead_letters(key: bytes | None, value: bytes | None, code: str) -> None:
    result = parse_command(key, value)
    assert isinstance(result, DeadLetter) and result.code == code and result.message


@pytest.mark.parametrize(
    "fields,fragment",
    [
        ({"type": "transition", "status": "finished"}, "status"),
        ({"type": "transition", "status": "completed", "stop_reason": "bored"}, "stop_reason"),
        ({"type": "create", "timeout_seconds": -1}, "timeout_seconds"),
        ({"type": "create", "metadata": [1]}, "metadata"),
        ({"type": "attach_messages", "message_ids": []}, "message_ids"),
    ],
)
def test_bad_field_values_are_validation_errors(fields: dict[str, object], fragment: str) -> None:
    result = parse_command(b"j1", raw(**fields))
    assert isinstance(result, Invalid)
    assert (result.job_id, result.command_id) == ("j1", "c1")
    assert fragment in result.message


def test_valid_command_parses() -> None:
    result = parse_command(b"j1", raw(type="transition", status="completed", stop_reason="end_turn", extra=1))
    assert isinstance(result, Parsed)
    assert result.command.type == "transition"


def test_nul_characters_are_dead_lettered_before_they_reach_postgres() -> None:
    result = parse_command(b"j1", raw(type="create", metadata={"x": "a\u0000b"}))
    assert isinstance(result, DeadLetter) and result.code == "unsupported_character"


@pytest.mark.parametrize(
    "fields",
    [
        {"type": "create", "timeout_seconds": 1e12},
        {"type": "transition", "status": "completed", "ttft_ns": 2**63},
        {"type": "transition", "status": "completed", "total_duration_ns": 2**64 - 1},
    ],
)
def test_values_postgres_cannot_hold_are_validation_errors(fields: dict[str, object]) -> None:
    assert isinstance(parse_command(b"j1", raw(**fields)), Invalid)
