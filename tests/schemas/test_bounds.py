"""Every command bound (docs/contract.md §3 Bounds): just inside parses, just outside is refused by name."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.bounds import (
    MAX_ATTEMPTS,
    MAX_BACKOFF_S,
    MAX_COMMAND_ID_LENGTH,
    MAX_CUSTOM_ID_LENGTH,
    MAX_ERROR_LENGTH,
    MAX_ID_LENGTH,
    MAX_INT4,
    MAX_INT64,
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    MAX_LIST_ITEMS,
    MAX_TIMEOUT_S,
    MAX_URL_LENGTH,
    MIN_INT64,
    json_depth,
    json_problem,
)
from schemas.commands import COMMAND_ADAPTER
from schemas.parsing import DeadLetter, Invalid, Parsed, ParseResult, parse_command

CREATE = {"type": "create"}
BATCH = {"type": "create", "job_type": "batch", "provider": "anthropic", "provider_batch_id": "b"}
TRANSITION = {"type": "transition", "status": "running"}
CALLBACK = {"type": "record_callback"}


def parse(**fields: Any) -> ParseResult:
    """Through the worker's parser, as bytes; Python's json writes any integer, as other producers may."""
    document = {"command_id": "c1", "job_id": "j1", **fields}
    return parse_command(str(document["job_id"]).encode(), json.dumps(document, allow_nan=False).encode())


def nest(levels: int) -> dict[str, Any]:
    """An object `levels` deep: nest(1) == {}."""
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def sized(size: int) -> dict[str, str]:
    """An object whose compact JSON is exactly `size` bytes."""
    return {"p": "x" * (size - len(b'{"p":""}'))}


def items(count: int) -> list[dict[str, str]]:
    return [{"custom_id": f"c{n}", "job_id": f"j{n}"} for n in range(count)]


# (base fields, field, a value just inside, a value just outside)
BOUNDS: list[tuple[dict[str, Any], str, Any, Any]] = [
    (CREATE, "organization_id", "o" * MAX_ID_LENGTH, "o" * (MAX_ID_LENGTH + 1)),
    (CREATE, "agent_id", "a" * MAX_ID_LENGTH, "a" * 10_000),
    (CREATE, "batch_id", "b" * MAX_ID_LENGTH, "b" * (MAX_ID_LENGTH + 1)),
    (BATCH, "provider", "p" * MAX_ID_LENGTH, "p" * (MAX_ID_LENGTH + 1)),
    (BATCH, "provider_batch_id", "p" * MAX_ID_LENGTH, "p" * (MAX_ID_LENGTH + 1)),
    (CREATE, "callback_url", "h" * MAX_URL_LENGTH, "h" * (MAX_URL_LENGTH + 1)),
    (CREATE, "timeout_seconds", MAX_TIMEOUT_S, MAX_TIMEOUT_S + 1),
    (CREATE, "timeout_seconds", 1e-9, 0),
    (CREATE, "timeout_seconds", 10, "10"),
    (CREATE, "heartbeat_timeout_seconds", MAX_TIMEOUT_S, MAX_TIMEOUT_S + 1),
    (CREATE, "heartbeat_timeout_seconds", 1e-9, 0),
    (CREATE, "retry_policy", {"max_attempts": MAX_ATTEMPTS}, {"max_attempts": MAX_ATTEMPTS + 1}),
    (CREATE, "retry_policy", {"max_attempts": 1}, {"max_attempts": 0}),
    (CREATE, "retry_policy", {"max_attempts": 2.0}, {"max_attempts": 2.5}),
    (CREATE, "retry_policy", {"initial_backoff_seconds": MAX_BACKOFF_S}, {"initial_backoff_seconds": 1e9}),
    (CREATE, "retry_policy", {"initial_backoff_seconds": 0}, {"initial_backoff_seconds": -1}),
    (CREATE, "retry_policy", {"max_backoff_seconds": MAX_BACKOFF_S}, {"max_backoff_seconds": "5"}),
    (CREATE, "retry_policy", {"backoff_multiplier": 10}, {"backoff_multiplier": 10.5}),
    (CREATE, "retry_policy", {"backoff_multiplier": 1}, {"backoff_multiplier": 0.5}),
    (CREATE, "retry_policy", {"retryable_stop_reasons": []}, {"retryable_stop_reasons": ["flaky"]}),
    (CREATE, "retry_policy", {}, 3),
    (CREATE, "background", True, 1),
    (CREATE, "background", False, "false"),
    (CREATE, "metadata", nest(MAX_JSON_DEPTH), nest(MAX_JSON_DEPTH + 1)),
    (CREATE, "metadata", sized(MAX_JSON_BYTES), sized(MAX_JSON_BYTES + 1)),
    (CREATE, "metadata", {"n": MAX_INT64}, {"n": MAX_INT64 + 1}),
    (CREATE, "metadata", {"n": MIN_INT64}, {"n": [MIN_INT64 - 1]}),
    (CREATE, "metadata", {"n": 1e308}, {"n": 2**70}),
    (CREATE, "request_config", nest(MAX_JSON_DEPTH), nest(MAX_JSON_DEPTH + 1)),
    (CREATE, "request_config", sized(MAX_JSON_BYTES), sized(MAX_JSON_BYTES + 1)),
    (CREATE, "issued_at", "2026-01-02T03:04:05Z", "2026-01-02"),
    (CREATE, "issued_at", "2026-01-02t03:04:05.123456789+14:00", "2026-01-02T03:04:05"),
    (CREATE, "issued_at", "8999-12-31T23:59:59-14:00", "9999-12-31T23:59:59-14:00"),
    (CREATE, "issued_at", "1000-01-01T00:00:00+14:00", 1767323045),
    (
        BATCH,
        "items",
        [{"custom_id": "c" * MAX_CUSTOM_ID_LENGTH, "job_id": "j"}],
        [{"custom_id": "c" * 65, "job_id": "j"}],
    ),
    (
        BATCH,
        "items",
        [{"custom_id": "c", "job_id": "j" * MAX_ID_LENGTH}],
        [{"custom_id": "c", "job_id": "j" * 257}],
    ),
    (BATCH, "items", [], [{"custom_id": "", "job_id": "j"}]),
    (TRANSITION, "metadata", nest(MAX_JSON_DEPTH), nest(MAX_JSON_DEPTH + 1)),
    (TRANSITION, "metadata", sized(MAX_JSON_BYTES), sized(MAX_JSON_BYTES + 1)),
    (TRANSITION, "force", True, 1),
    (TRANSITION, "ttft_ns", MAX_INT64, MAX_INT64 + 1),
    (TRANSITION, "ttft_ns", 0, -1),
    (TRANSITION, "total_duration_ns", MAX_INT64, 2**64),
    (TRANSITION, "total_duration_ns", 5.0, 5.5),
    ({"type": "update_metadata"}, "metadata", nest(MAX_JSON_DEPTH), nest(MAX_JSON_DEPTH + 1)),
    ({"type": "update_metadata"}, "metadata", sized(MAX_JSON_BYTES), sized(MAX_JSON_BYTES + 1)),
    ({"type": "attach_messages"}, "message_ids", ["m" * MAX_ID_LENGTH], ["m" * (MAX_ID_LENGTH + 1)]),
    ({"type": "attach_messages"}, "message_ids", ["m"] * MAX_LIST_ITEMS, ["m"] * (MAX_LIST_ITEMS + 1)),
    ({"type": "attach_messages"}, "message_ids", ["m"], [""]),
    (CALLBACK, "attempts", MAX_INT4, 3_000_000_000),
    (CALLBACK, "attempts", 0, -1),
    (CALLBACK, "attempts", 3.0, 1.5),
    (CALLBACK, "attempts", 1, True),
    (CALLBACK, "status_code", 100, 99),
    (CALLBACK, "status_code", 999, 3_000_000_000),
    (CALLBACK, "status_code", 503, "503"),
    (CALLBACK, "error", "e" * MAX_ERROR_LENGTH, "e" * (MAX_ERROR_LENGTH + 1)),
    (CALLBACK, "sent_at", "2026-01-02T03:04:05+00:00", "yesterday"),
]


def test_a_retry_policy_field_out_of_bounds_is_named_with_its_path() -> None:
    refused = parse(**CREATE, retry_policy={"max_attempts": 3, "backoff_multiplier": 1e6})
    assert isinstance(refused, Invalid) and refused.message.startswith("retry_policy.backoff_multiplier")


@pytest.mark.parametrize(("base", "field", "inside", "outside"), BOUNDS)
def test_just_inside_parses_and_just_outside_is_invalid_by_name(
    base: dict[str, Any], field: str, inside: Any, outside: Any
) -> None:
    accepted = parse(**{**base, field: inside})
    assert isinstance(accepted, Parsed), accepted
    refused = parse(**{**base, field: outside})
    assert isinstance(refused, Invalid), refused
    assert refused.message.startswith(field), refused.message


@pytest.mark.parametrize(
    ("field", "limit"), [("job_id", MAX_ID_LENGTH), ("command_id", MAX_COMMAND_ID_LENGTH)]
)
def test_the_ids_that_key_a_command_are_bounded_too(field: str, limit: int) -> None:
    """Just outside, nothing could store the rejection keyed by them: a dead letter (docs/contract.md §6)."""
    assert isinstance(parse(type="create", **{field: "i" * limit}), Parsed)
    refused = parse(type="create", **{field: "i" * (limit + 1)})
    assert isinstance(refused, DeadLetter) and refused.code == "too_long" and field in refused.message


def test_items_are_bounded_in_number() -> None:
    # 10,001 items cannot fit in a 256 KiB record at all; the bound holds for any caller of the model.
    base = {"command_id": "c1", "job_id": "j1", **BATCH}
    COMMAND_ADAPTER.validate_python({**base, "items": items(MAX_LIST_ITEMS)})
    with pytest.raises(ValidationError, match="items"):
        COMMAND_ADAPTER.validate_python({**base, "items": items(MAX_LIST_ITEMS + 1)})


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_numbers_are_refused_wherever_python_can_hold_them(value: float) -> None:
    base = {"command_id": "c1", "job_id": "j1", "type": "create"}
    with pytest.raises(ValidationError, match="timeout_seconds"):
        COMMAND_ADAPTER.validate_python({**base, "timeout_seconds": value})
    with pytest.raises(ValidationError, match="not a finite number"):
        COMMAND_ADAPTER.validate_python({**base, "metadata": {"deep": [{"x": value}]}})


def test_nesting_is_measured_without_recursion() -> None:
    deep = nest(300)
    assert json_depth(deep) == 300
    assert json_problem(deep, MAX_JSON_DEPTH) == f"{'.'.join('a' * 32)}: nested deeper than 32 levels"
    with pytest.raises(ValidationError, match="nested deeper than 32 levels"):
        COMMAND_ADAPTER.validate_python(
            {"command_id": "c1", "job_id": "j1", "type": "create", "metadata": deep}
        )


@pytest.mark.parametrize(
    "value,problem",
    [
        ({"a": [1, {"b": 2**64}]}, "a[1].b: integer 18446744073709551616 does not fit in 64 bits"),
        ({"a": float("nan")}, "a: nan is not a finite number"),
        ({"a": {3: 1}}, "a: key 3 is not a string"),
        ({"a": {0: 1}}, "a: key 0 is not a string"),
        ([b"x"], "[0]: a bytes is not a JSON value"),
        ({"ok": [None, True, "s", 1, 1.5, {}]}, None),
    ],
)
def test_json_problem_names_the_offending_value(value: Any, problem: str | None) -> None:
    assert json_problem(value, MAX_JSON_DEPTH) == problem
