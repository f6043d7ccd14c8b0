"""Hostile commands for the `poison` scenario: values that once stalled a partition, and a fuzzer.

Each hostile record has the outcome the contract gives it, written by hand (a rejection with its code,
or a dead letter with its reason). Fuzzed records get `ANY`: whatever the outcome, there must be one.
"""

from __future__ import annotations

import itertools
import json
import random
import string
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from tests.faults.scripts import ANY, DEAD, REJECTED, Script, Step, assemble

LONG = 10_000
MAX_RECORD_BYTES = 900 * 1024


def _rand_text(rng: random.Random, size: int) -> str:
    """Random text with multi-byte characters: 4-byte ones are what overflow an index soonest."""
    alphabet = string.ascii_letters + "éßЖ中😀𝄞"
    return "".join(rng.choice(alphabet) for _ in range(size))


def _nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"n": value}
    return value


def _command(job_id: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {"command_id": uuid.uuid4().hex, "type": kind, "job_id": job_id, **fields}


def _encoded(document: dict[str, Any]) -> bytes:
    """The standard library's encoder: orjson refuses the nesting some of these records need."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


# name -> (job id -> (key, value, outcome, code)); the records a tenant could send today.
Hostile = Callable[[str, random.Random], tuple[bytes, bytes, str, str]]


def _rejected(document: dict[str, Any]) -> tuple[bytes, bytes, str, str]:
    return document["job_id"].encode(), _encoded(document), REJECTED, "validation_error"


def _dead(key: str, value: bytes, code: str) -> tuple[bytes, bytes, str, str]:
    return key.encode(), value, DEAD, code


HOSTILE: dict[str, Hostile] = {
    "long_agent_id": lambda j, r: _rejected(_command(j, "create", agent_id=_rand_text(r, LONG))),
    "long_batch_id": lambda j, r: _rejected(_command(j, "create", batch_id=_rand_text(r, 300))),
    "long_org_id": lambda j, r: _rejected(_command(j, "create", organization_id=_rand_text(r, 300))),
    "long_provider_batch_id": lambda j, r: _rejected(
        _command(j, "create", job_type="batch", provider="anthropic", provider_batch_id=_rand_text(r, LONG))
    ),
    "long_custom_id": lambda j, r: _rejected(
        _command(
            j,
            "create",
            job_type="batch",
            provider="anthropic",
            provider_batch_id="pb",
            items=[{"custom_id": _rand_text(r, LONG), "job_id": f"{j}-item"}],
        )
    ),
    "long_message_id": lambda j, r: _rejected(
        _command(j, "attach_messages", message_ids=["ok", _rand_text(r, 300)])
    ),
    "many_message_ids": lambda j, r: _rejected(
        _command(j, "attach_messages", message_ids=[f"m{n}" for n in range(10_001)])
    ),
    "int4_attempts": lambda j, r: _rejected(_command(j, "record_callback", attempts=3_000_000_000)),
    "int4_status_code": lambda j, r: _rejected(_command(j, "record_callback", status_code=3_000_000_000)),
    "bigint_ttft": lambda j, r: _rejected(_command(j, "transition", status="running", ttft_ns=2**63)),
    "huge_timeout": lambda j, r: _rejected(_command(j, "create", timeout_seconds=1e308)),
    "string_timeout": lambda j, r: _rejected(_command(j, "create", timeout_seconds="10")),
    "int_background": lambda j, r: _rejected(_command(j, "create", background=1)),
    "deep_metadata": lambda j, r: _dead(
        j, _encoded(_command(j, "create", metadata=_nested(300))), "too_deep"
    ),
    "deep_patch": lambda j, r: _rejected(_command(j, "update_metadata", metadata=_nested(40))),
    "deep_request_config": lambda j, r: _dead(
        j, _encoded(_command(j, "create", request_config=_nested(200))), "too_deep"
    ),
    "u64_in_metadata": lambda j, r: _rejected(_command(j, "create", metadata={"n": 2**64 - 1})),
    "long_job_id": lambda j, r: _dead(
        long := j + _rand_text(r, LONG), _encoded(_command(long, "create")), "too_long"
    ),
    "long_command_id": lambda j, r: _dead(
        j, _encoded({**_command(j, "create"), "command_id": _rand_text(r, LONG)}), "too_long"
    ),
    "nul_in_metadata": lambda j, r: _dead(
        j, _encoded(_command(j, "create", metadata={"a": "x\u0000y"})), "unsupported_character"
    ),
    "nul_in_key": lambda j, r: _dead(
        j, _encoded(_command(j, "create", metadata={"a\u0000": 1})), "unsupported_character"
    ),
    "infinity_in_metadata": lambda j, r: _dead(
        j,
        _encoded(_command(j, "create", metadata={})).replace(b'"metadata":{}', b'"metadata":{"x":1e400}'),
        "invalid_json",
    ),
    "too_deep_to_parse": lambda j, r: _dead(
        j,
        _encoded(_command(j, "create")).replace(b"}", b',"m":' + b"[" * 1100 + b"]" * 1100 + b"}"),
        "invalid_json",
    ),
}


def _escaped_backslash(s: Script) -> None:
    """Looks hostile, is not: the text `\\u0000` (a backslash, then u0000) is ordinary metadata."""
    s.apply("create", "created", metadata={"path": "C:\\u0000\\dir"})
    s.apply("transition", "running", status="running", ttft_ns=2**63 - 1)


def hostile(job_id: str, kind: str, rng: random.Random) -> Script:
    key, value, outcome, code = HOSTILE[kind](job_id, rng)
    script = Script(job_id, f"bad:{kind}")
    command_id = _command_id(value)
    script.steps.append(Step(key, value, outcome, key.decode(), command_id, code=code))
    return script


def fuzzed(job_id: str, rng: random.Random) -> Script:
    """A valid command shape with one field set to a random value of a random type and size."""
    shapes: list[dict[str, Any]] = [
        _command(job_id, "create", metadata={"a": 1}, agent_id="agent", timeout_seconds=60),
        _command(job_id, "transition", status="running", ttft_ns=1),
        _command(job_id, "update_metadata", metadata={"k": "v"}),
        _command(job_id, "attach_messages", message_ids=["m1"]),
        _command(job_id, "record_callback", status_code=200, attempts=1),
        _command(job_id, "cancel", stop_reason="user_cancelled"),
    ]
    document = rng.choice(shapes)
    field = rng.choice(
        [f for f in [*document, "status", "items", "request_config", "force"] if f != "job_id"]
    )
    while True:  # the broker refuses records over 1 MiB to any producer: not the service's to test
        document[field] = _random_value(rng, depth=0)
        value = _encoded(document)
        if len(value) < MAX_RECORD_BYTES:
            break
    script = Script(job_id, "fuzz")
    script.steps.append(Step(job_id.encode(), value, ANY, job_id, _command_id(value)))
    return script


def _random_value(rng: random.Random, depth: int) -> Any:
    kind = rng.choice(["str", "int", "float", "bool", "null", "list", "dict"] if depth < 40 else ["str"])
    if kind == "str":
        return _rand_text(rng, rng.choice([0, 1, 10, 255, 256, 257, 384, 385, 3000, 70_000]))
    if kind == "int":
        return rng.choice([-1, 0, 1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64 - 1, -(2**63), 3_000_000_000])
    if kind == "float":
        return rng.choice([0.5, -1.5, 1e308, 1e-308, 3.0, 86400.0 * 3650 + 1])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [_random_value(rng, depth + 1) for _ in range(rng.choice([0, 1, 3, 20]))]
    width = rng.choice([0, 1, 3]) if depth < 30 else 1
    return {f"k{n}": _random_value(rng, depth + 1) for n in range(width)}


def _command_id(value: bytes) -> str | None:
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    command_id = document.get("command_id") if isinstance(document, dict) else None
    return command_id if isinstance(command_id, str) else None


def build_poison_load(prefix: str, commands: int, hostile_every: int, rng: random.Random) -> list[Script]:
    """Ordinary job scripts with, every `hostile_every` jobs, a hostile record (every kind at least once)
    or a fuzzed one, alternately; shuffled like the other loads."""
    kinds = itertools.cycle(sorted(HOSTILE))

    def special(job_id: str, n: int) -> Script | None:
        if n % hostile_every == hostile_every - 1:
            turn = n // hostile_every
            return hostile(job_id, next(kinds), rng) if turn % 2 == 0 else fuzzed(job_id, rng)
        if n % 97 == 0:
            script = Script(job_id, "escaped_backslash")
            _escaped_backslash(script)
            return script
        return None

    return assemble(prefix, commands, rng, special)
