"""Raw records -> command, validation_error, or dead letter (docs/contract.md §6, rule 8)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from schemas.parsing import MAX_COMMAND_BYTES, DeadLetter, Invalid, Parsed, parse_command, parse_document


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
        (b"j1", raw(type="attach_messages", message_ids="x"), "wrong_type"),
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


@pytest.mark.parametrize(
    "value",
    [
        raw(type="create", metadata={"x": "a\u0000b"}),
        raw(type="create", metadata={"key\u0000": 1}),  # in a key: jsonb refuses it there too
        raw(type="create", agent_id="\\\u0000"),  # an escaped backslash, then a real U+0000
        raw(type="create", metadata={"\\\\": "\u0000"}),
    ],
)
def test_every_real_nul_is_dead_lettered(value: bytes) -> None:
    result = parse_command(b"j1", value)
    assert isinstance(result, DeadLetter) and result.code == "unsupported_character"


@pytest.mark.parametrize("text", ["\\u0000", "a\\\\\\u0000b", "C:\\u0000\\"])
def test_the_text_backslash_u0000_is_not_a_nul(text: str) -> None:
    value = raw(type="create", metadata={text: text})
    assert b"\\\\u0000" in value, "the JSON holds an escaped backslash followed by u0000"
    result = parse_command(b"j1", value)
    assert isinstance(result, Parsed) and result.command.metadata == {text: text}


def test_records_too_deep_to_answer_are_dead_lettered() -> None:
    # 300 levels: orjson could read it, but not encode the rejection that carries it.
    metadata = b'{"a":' * 299 + b"{}" + b"}" * 299
    value = b'{"command_id": "c1", "job_id": "j1", "type": "create", "metadata": ' + metadata + b"}"
    result = parse_command(b"j1", value)
    assert isinstance(result, DeadLetter) and result.code == "too_deep"


@pytest.mark.parametrize(
    "fields,name",
    [
        ({"job_id": "j" * 257}, "job_id"),
        ({"command_id": "c" * 385}, "command_id"),
    ],
)
def test_ids_too_long_to_key_a_rejection_are_dead_lettered(fields: dict[str, str], name: str) -> None:
    job_id = fields.get("job_id", "j1")
    result = parse_command(
        job_id.encode(), orjson.dumps({"command_id": "c1", "job_id": "j1", "type": "create", **fields})
    )
    assert isinstance(result, DeadLetter) and result.code == "too_long" and name in result.message


def test_a_number_beyond_a_double_is_not_readable_json() -> None:
    value = b'{"command_id": "c1", "job_id": "j1", "type": "create", "metadata": {"n": 1e400}}'
    result = parse_command(b"j1", value)
    assert isinstance(result, DeadLetter) and result.code == "invalid_json"


def test_integers_beyond_64_bits_are_seen_exactly_not_as_floats() -> None:
    value = b'{"command_id": "c1", "job_id": "j1", "type": "create", "metadata": {"n": 18446744073709551616}}'
    result = parse_command(b"j1", value)
    assert isinstance(result, Invalid) and "metadata" in result.message and "64 bits" in result.message
    assert result.raw["metadata"]["n"] == 2.0**64, "the rejection carries what orjson can encode"


def test_stateless_create_problems_are_validation_errors() -> None:
    result = parse_command(b"j1", raw(type="create", status="completed"))
    assert isinstance(result, Invalid) and result.message.startswith("status:")


@pytest.mark.parametrize(
    "document,fragment",
    [
        ({"type": "create", "metadata": {"x": [float("nan")]}}, "metadata.x[0]"),
        ({"type": "create", "timeout_seconds": float("inf")}, "timeout_seconds"),
        ({"type": "create", "metadata": {"n": 2**64}}, "metadata.n"),
        ({"type": "create", "metadata": {"n": {1: 2}}}, "key must be str"),
        ({"type": "create", "metadata": {"when": object()}}, "cannot be encoded"),
    ],
)
def test_python_values_json_cannot_carry_are_refused_by_name(
    document: dict[str, object], fragment: str
) -> None:
    result = parse_document({"command_id": "c1", "job_id": "j1", **document})
    assert isinstance(result, DeadLetter) and result.code == "not_json" and fragment in result.message


def test_a_python_document_is_encoded_as_it_will_be_published() -> None:
    sent_at = datetime(2026, 1, 2, tzinfo=UTC)
    result = parse_document(
        {"command_id": "c1", "job_id": "j1", "type": "record_callback", "sent_at": sent_at, "attempts": 2}
    )
    assert isinstance(result, Parsed) and result.command.type == "record_callback"
    assert result.command.sent_at == sent_at
