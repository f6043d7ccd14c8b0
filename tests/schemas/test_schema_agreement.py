"""The JSON Schema (`jobstream schema commands`) and the worker's parser accept the same commands."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from schemas.json_schema import command_schema
from schemas.parsing import Parsed, parse_command

SCHEMA = Draft202012Validator(command_schema())
BATCH = {"job_type": "batch", "provider": "anthropic", "provider_batch_id": "msgbatch_1"}


def command(kind: str, **fields: Any) -> dict[str, Any]:
    return {"command_id": "c1", "job_id": "j1", "type": kind, **fields}


def accepted_by_parser(document: dict[str, Any]) -> bool:
    """As the worker sees it: bytes from any producer (Python's json writes any integer)."""
    key = document["job_id"].encode() if isinstance(document.get("job_id"), str) else None
    return isinstance(parse_command(key, json.dumps(document).encode()), Parsed)


# (document, accepted): the second element says what both must conclude.
TRICKY: list[tuple[dict[str, Any], bool]] = [
    (command("create"), True),
    (command("create", future_field={"anything": [1]}), True),
    ({"job_id": "j1", "type": "create"}, False),
    ({"command_id": "c1", "job_id": "j1"}, False),
    (command("launch"), False),
    (command("create", job_id=""), False),
    (command("create", job_id="j" * 256), True),
    (command("create", job_id="j" * 257), False),
    (command("create", command_id="c" * 384), True),
    (command("create", command_id="c" * 385), False),
    (command("create", command_id=7), False),
    (command("create", organization_id=1), False),
    (command("create", timeout_seconds=10), True),
    (command("create", timeout_seconds=1.5), True),
    (command("create", timeout_seconds="10"), False),
    (command("create", timeout_seconds=0), False),
    (command("create", timeout_seconds=True), False),
    (command("create", background=True), True),
    (command("create", background=None), True),
    (command("create", background=1), False),
    (command("create", background="true"), False),
    (command("create", status="pending"), True),
    (command("create", status="completed"), False),
    (command("create", status="finished"), False),
    (command("create", job_type="run", agent_id="agent-1", request_config={"model": "x"}), True),
    (command("create", job_type="flow"), False),
    (command("create", metadata=[1]), False),
    (command("create", metadata=None), False),
    (command("create", request_config="x"), False),
    (command("create", callback_url="https://example.com/" + "x" * 2029), False),
    (command("create", items=[{"custom_id": "a", "job_id": "x"}]), False),
    (command("create", items=None), True),
    (command("create", job_type="batch"), False),
    (command("create", job_type="batch", provider="anthropic"), False),
    (command("create", job_type="batch", provider="", provider_batch_id="b"), False),
    (command("create", job_type="batch", provider=None, provider_batch_id="b"), False),
    (command("create", **BATCH), True),
    (command("create", **BATCH, items=[{"custom_id": "a", "job_id": "x"}]), True),
    (command("create", **BATCH, items=[{"custom_id": "a" * 65, "job_id": "x"}]), False),
    (command("create", **BATCH, items=[{"custom_id": "a"}]), False),
    (command("create", **BATCH, items=[{"custom_id": 1, "job_id": "x"}]), False),
    (command("create", issued_at="2026-01-02T03:04:05Z"), True),
    (command("create", issued_at="2026-01-02T03:04:05.5-07:00"), True),
    (command("create", issued_at="2026-01-02T03:04:05"), False),
    (command("create", issued_at="2026-01-02"), False),
    (command("create", issued_at="1767323045"), False),
    (command("create", issued_at=1767323045), False),
    (command("create", issued_at=None), True),
    (command("transition", status="running"), True),
    (command("transition"), False),
    (command("transition", status="sleeping"), False),
    (command("transition", status="completed", stop_reason="end_turn"), True),
    (command("transition", status="completed", stop_reason="bored"), False),
    (command("transition", status="running", expected_status="pending"), True),
    (command("transition", status="running", force=False), True),
    (command("transition", status="running", force=1), False),
    (command("transition", status="running", force=None), False),
    (command("transition", status="running", ttft_ns=1.0), True),
    (command("transition", status="running", ttft_ns=1.5), False),
    (command("transition", status="running", ttft_ns="1"), False),
    (command("transition", status="running", ttft_ns=2**63 - 1), True),
    (command("transition", status="running", ttft_ns=2**63), False),
    (command("transition", status="running", total_duration_ns=-1), False),
    (command("transition", status="running", metadata={"a": None}), True),
    (command("cancel"), True),
    (command("cancel", stop_reason="user_cancelled"), True),
    (command("cancel", stop_reason=None), False),
    (command("update_metadata", metadata={"a": 1}), True),
    (command("update_metadata"), True),  # timings alone, or nothing: an empty patch
    (command("update_metadata", ttft_ns=5), True),
    (command("update_metadata", total_duration_ns=-1), False),
    (command("update_metadata", metadata="x"), False),
    (command("delete"), True),
    (command("delete", organization_id="org"), True),
    (command("attach_messages", message_ids=["m1"]), True),
    (command("attach_messages", message_ids=[]), False),
    (command("attach_messages", message_ids=[1]), False),
    (command("attach_messages", message_ids=["m" * 257]), False),
    (command("record_callback", attempts=3, status_code=503, error="HTTP 503"), True),
    (command("record_callback", attempts=True), False),
    (command("record_callback", attempts=3_000_000_000), False),
    (command("record_callback", status_code=99), False),
    (command("record_callback", status_code=600), True),
    (command("record_callback", status_code=3_000_000_000), False),
    (command("record_callback", sent_at="2026-01-02T03:04:05+00:00"), True),
    (command("record_callback", sent_at=12345), False),
    (command("record_callback", error="e" * 4097), False),
]


def test_the_schema_is_valid_json_schema() -> None:
    Draft202012Validator.check_schema(command_schema())


@pytest.mark.parametrize(("document", "accepted"), TRICKY)
def test_schema_and_parser_agree(document: dict[str, Any], accepted: bool) -> None:
    assert SCHEMA.is_valid(document) is accepted, list(SCHEMA.iter_errors(document))[:1]
    assert accepted_by_parser(document) is accepted


# What JSON Schema cannot say, pinned so the gap stays exactly this (docs/contract.md §3 Bounds).
BEYOND_JSON_SCHEMA: list[dict[str, Any]] = [
    command("create", metadata={"p": "x" * (64 * 1024)}),  # a size in bytes of encoded JSON
    command("update_metadata", metadata=json.loads('{"a":' * 32 + "{}" + "}" * 32)),  # nesting depth
    command("create", metadata={"n": 2**64}),  # numbers inside an open object
    command("create", **BATCH, items=[{"custom_id": "a", "job_id": "x"}, {"custom_id": "a", "job_id": "y"}]),
    command("create", agent_id="a\u0000b"),  # U+0000: a dead letter, not a validation error
    command("create", issued_at="2026-02-30T00:00:00Z"),  # the calendar, beyond the pattern
]


@pytest.mark.parametrize("document", BEYOND_JSON_SCHEMA)
def test_what_only_the_parser_refuses(document: dict[str, Any]) -> None:
    assert SCHEMA.is_valid(document)
    assert not accepted_by_parser(document)
