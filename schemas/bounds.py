"""Limits every command value keeps, so whatever parses fits where Postgres stores and indexes it. No I/O."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, BeforeValidator, Field

# Identifiers are btree-indexed, two to an index (job_id + message_id, batch_id + custom_id, …); Postgres
# refuses an index row over 2704 bytes. 256 characters of 4-byte UTF-8 are 1 KiB, so two fit.
MAX_ID_LENGTH = 256
# The service derives command ids from job ids (`expire:{job}`, `callback:{job}:{seq}`,
# `batch-item:{batch}:{custom_id}:{outcome}`), so they need room for up to two ids and a custom_id, and
# still share (job_id, command_id) indexes: 256 + 384 characters of 4 bytes are 2.5 KiB.
MAX_COMMAND_ID_LENGTH = 384
MAX_CUSTOM_ID_LENGTH = 64  # Anthropic's Message Batches limit, and inside every derived command id
MAX_URL_LENGTH = 2048
MAX_ERROR_LENGTH = 4096
MAX_LIST_ITEMS = 10_000  # a command is at most 256 KiB anyway; the bound is stated, not implied
MAX_INT4 = 2**31 - 1  # Postgres integer
MIN_INT64, MAX_INT64 = -(2**63), 2**63 - 1  # Postgres bigint; what orjson and most JSON readers keep exact
MAX_TIMEOUT_S = 10 * 365 * 24 * 3600  # beyond ten years a timeout is a bug, and datetimes overflow
# Retry policies (rule 15): a hundred attempts is already a runaway loop; a backoff past a day is a bug,
# and with these bounds initial * multiplier**(attempt - 1) stays a finite float (10**99 * 86400).
MAX_ATTEMPTS = 100
MAX_BACKOFF_S = 24 * 3600.0
MAX_BACKOFF_MULTIPLIER = 10.0
MIN_STATUS_CODE, MAX_STATUS_CODE = 100, 999  # any status line httpx hands the callback deliverer
MAX_JSON_DEPTH = 32  # orjson refuses to encode past 254 levels: the whole event must stay well inside
MAX_JSON_BYTES = 64 * 1024  # every event carries the whole job: it must fit in a Kafka message

# RFC 3339 with an offset; years 1000-8999 so that any offset still leaves a year Python can read back.
RFC3339 = (
    r"[1-8][0-9]{3}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_RFC3339 = re.compile(RFC3339)


def json_depth(value: Any) -> int:
    """How many containers deep `value` nests: 0 for a scalar, 1 for `{}` or `[1]`."""
    return max((len(path) + 1 for path, _ in _containers(value)), default=0)


def json_problem(value: Any, max_depth: int) -> str | None:
    """Why `value` is not JSON that Postgres jsonb stores and orjson re-encodes exactly, or None.

    Refused: nesting deeper than `max_depth`, non-string keys, non-finite floats, integers beyond 64
    bits, anything that is not a JSON type. The message starts with the path of the offending value.
    """
    # The walk behind every metadata and request_config the worker validates: kept lean on purpose.
    stack: list[tuple[_Path, Any]] = [((), value)] if isinstance(value, _CONTAINERS) else []
    while stack:
        path, node = stack.pop()
        if len(path) >= max_depth:
            return f"{_render(path)}: nested deeper than {max_depth} levels"
        is_object = isinstance(node, dict)
        for key, child in node.items() if is_object else enumerate(node):
            if is_object and not isinstance(key, str):
                return f"{_render(path)}: key {key!r} is not a string"
            kind = type(child)
            if kind is str or kind is bool or child is None:
                continue
            if isinstance(child, _CONTAINERS):
                stack.append(((*path, key), child))
                continue
            problem = _scalar_problem(child)
            if problem is not None:
                return f"{_render((*path, key))}: {problem}"
    return None


def number_problem(value: Any) -> str | None:
    """The first number in `value` that JSON cannot carry as it is (NaN, an infinity, beyond 64 bits)."""
    for path, node in _containers(value):
        for key, child in _items(node):
            problem = _number_problem(child) if isinstance(child, int | float) else None
            if problem is not None:
                return f"{_render((*path, key))}: {problem}"
    return None


_CONTAINERS = (dict, list, tuple)
_Path = tuple[Any, ...]


def _containers(value: Any) -> Iterator[tuple[_Path, Any]]:
    """Every dict, list and tuple in `value` with its path, depth first and without recursion."""
    if not isinstance(value, _CONTAINERS):
        return
    stack: list[tuple[_Path, Any]] = [((), value)]
    while stack:
        path, node = stack.pop()
        yield path, node
        stack.extend(((*path, key), child) for key, child in _items(node) if isinstance(child, _CONTAINERS))


def _items(node: Any) -> Iterator[tuple[Any, Any]]:
    return iter(node.items()) if isinstance(node, dict) else enumerate(node)


def _scalar_problem(value: Any) -> str | None:
    if value is None or isinstance(value, str | bool):
        return None
    if isinstance(value, int | float):
        return _number_problem(value)
    return f"a {type(value).__name__} is not a JSON value"


def _number_problem(value: int | float) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if MIN_INT64 <= value <= MAX_INT64 else f"integer {value} does not fit in 64 bits"
    return None if math.isfinite(value) else f"{value} is not a finite number"


def _render(path: _Path) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".") or "value"


def _bounded_object(value: dict[str, Any]) -> dict[str, Any]:
    problem = json_problem(value, MAX_JSON_DEPTH)
    if problem is not None:
        raise ValueError(problem)
    size = len(orjson.dumps(value))
    if size > MAX_JSON_BYTES:
        raise ValueError(f"{size} bytes as JSON; the limit is {MAX_JSON_BYTES}")
    return value


def _integral(value: Any) -> Any:
    """JSON has one number type: 3.0 is the integer 3 (JSON Schema agrees), 3.5 is not an integer."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _rfc3339_only(value: Any) -> Any:
    """Datetimes from Python callers pass; from JSON only RFC 3339 strings (not numbers, not dates)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("expected an RFC 3339 date-time with an offset, e.g. 2026-01-02T03:04:05Z")
    return value


# A JSON object bounded in depth, size and numbers; JSON Schema cannot say so, the x- keywords do.
JsonObject = Annotated[
    dict[str, Any],
    AfterValidator(_bounded_object),
    Field(json_schema_extra={"x-max-depth": MAX_JSON_DEPTH, "x-max-bytes": MAX_JSON_BYTES}),
]
# Strict numbers: no "10" and no true for a number. For integers, add INTEGRAL after the bounds (before
# them, pydantic would write `ge`/`le` into the JSON Schema instead of minimum/maximum): 10.0 is still 10.
INTEGRAL = BeforeValidator(_integral)
JsonFloat = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Timestamp = Annotated[
    datetime, BeforeValidator(_rfc3339_only), Field(json_schema_extra={"pattern": f"^{RFC3339}$"})
]
