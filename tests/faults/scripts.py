"""Job scripts for the fault load: each job's commands in order, with their docs/contract.md §4/§6 outcome."""

from __future__ import annotations

import itertools
import os
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

APPLIED = "applied"
DUPLICATE = "duplicate"
REJECTED = "rejected"
DEAD = "dead"
ANY = "any"  # a fuzzed record: applied, rejected or dead-lettered, but one of them
HEARTBEAT = "heartbeat"  # rule 16: applied without an event or a seq; neither rejected nor dead-lettered
BAD_INPUT_KINDS = (
    "random_bytes",
    "truncated_json",
    "wrong_type",
    "unknown_type",
    "key_mismatch",
    "one_mib",
    "not_an_object",
    "tombstone",
)


@dataclass(frozen=True, slots=True)
class Step:
    """One record to produce and what must come of it: `outcome` is applied, duplicate, rejected or dead;
    `code` the rejection or dead-letter code; `seq` the seq an applied (or duplicated) command has."""

    key: bytes | None
    value: bytes | None
    outcome: str
    job_id: str
    command_id: str | None = None
    code: str | None = None
    seq: int | None = None


@dataclass(slots=True)
class Script:
    """One job's steps, sent in order, and the status and seq the job must end with (None: never exists)."""

    job_id: str
    kind: str
    steps: list[Step] = field(default_factory=list)
    status: str | None = None
    seq: int = 0
    _last: dict[str, Any] | None = None

    def apply(self, kind: str, after: str | None = None, **fields: Any) -> None:
        """A command the rules accept; `after` is the job's status afterwards when it changes."""
        command = self._command(kind, fields)
        self.seq += 1
        self.status = after or self.status
        self._last = command
        self._add(command, APPLIED, seq=self.seq)

    def reject(self, code: str, kind: str, **fields: Any) -> None:
        self._add(self._command(kind, fields), REJECTED, code=code)

    def heartbeat(self) -> None:
        self._add(self._command("heartbeat", {}), HEARTBEAT)

    def by_service(self, after: str) -> None:
        """A command the service sends itself (rules 15, 16: a retry, a heartbeat timeout): one more seq."""
        self.seq += 1
        self.status = after

    def repeat(self) -> None:
        """The last applied command again, byte for byte: a producer's retry (rule 7)."""
        assert self._last is not None, "repeat() follows apply()"
        self._add(self._last, DUPLICATE, seq=self.steps[-1].seq)

    def _command(self, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        return {"command_id": uuid.uuid4().hex, "type": kind, "job_id": self.job_id, **fields}

    def _add(
        self, command: dict[str, Any], outcome: str, code: str | None = None, seq: int | None = None
    ) -> None:
        key, value = self.job_id.encode(), orjson.dumps(command)
        self.steps.append(Step(key, value, outcome, self.job_id, command["command_id"], code, seq))


def _happy(s: Script) -> None:
    s.apply("create", "created", metadata={"n": 1})
    s.apply("transition", "running", status="running")
    s.apply("update_metadata", metadata={"step": "middle", "n": None})
    s.apply("attach_messages", message_ids=["m1", "m2"])
    s.apply("transition", "completed", status="completed", stop_reason="end_turn")


def _pending_cancel(s: Script) -> None:
    s.apply("create", "pending", status="pending")
    s.apply("transition", "running", status="running")
    s.apply("cancel", "cancelled")
    s.reject("invalid_transition", "cancel")


def _terminal_guard(s: Script) -> None:
    s.apply("create", "created")
    s.apply("transition", "failed", status="failed", stop_reason="error")
    s.reject("invalid_transition", "transition", status="running")
    s.reject("invalid_transition", "transition", status="completed")


def _guarded(s: Script) -> None:
    s.apply("create", "created")
    s.reject("status_mismatch", "transition", status="running", expected_status="pending")
    s.apply("transition", "running", status="running", expected_status="created")
    s.reject("invalid_transition", "transition", status="running")
    s.apply("transition", "completed", status="completed")


def _forced(s: Script) -> None:
    s.apply("create", "created")
    s.apply("transition", "completed", status="completed")
    s.apply("transition", "running", status="running", force=True)
    s.apply("transition", "failed", status="failed", stop_reason="error")


def _retried(s: Script) -> None:
    s.apply("create", "created", organization_id="org-a")
    s.repeat()
    s.apply("transition", "running", status="running")
    s.repeat()
    s.apply("cancel", "cancelled", stop_reason="user_cancelled")
    s.repeat()


def _conflicting(s: Script) -> None:
    s.apply("create", "created", organization_id="org-a")
    s.reject("job_exists", "create")
    s.reject("forbidden", "update_metadata", metadata={"x": 1}, organization_id="org-b")
    s.reject("validation_error", "transition", status="bogus")


def _orphan(s: Script) -> None:
    s.reject("job_not_found", "transition", status="running")
    s.reject("job_not_found", "cancel")


# Rules 15 and 16. Timers are short (or immediate) so that they fire within the load; the runner waits
# for every timer to settle before it reconciles.
_NOW = {"max_attempts": 2, "initial_backoff_seconds": 0.0}


def _retried_attempt(s: Script) -> None:
    s.apply("create", "running", status="running", retry_policy=_NOW)
    s.apply("transition", status="failed", stop_reason="llm_api_error")  # job.attempt_failed
    s.by_service("pending")  # retry:{job}:1 once the (zero) backoff is over


def _not_retryable(s: Script) -> None:
    s.apply("create", "running", status="running", retry_policy=_NOW)
    s.apply("transition", "failed", status="failed", stop_reason="invalid_tool_call")
    s.reject("invalid_transition", "transition", status="running")


def _backoff_cancelled(s: Script) -> None:
    s.apply("create", "running", status="running", retry_policy={"initial_backoff_seconds": 3600})
    s.apply("transition", status="failed", stop_reason="provider_error")
    s.reject("invalid_transition", "transition", status="completed")
    s.reject("invalid_transition", "heartbeat")
    s.apply("cancel", "cancelled")


def _heartbeats(s: Script) -> None:
    s.apply("create", "created", heartbeat_timeout_seconds=3600)
    s.reject("invalid_transition", "heartbeat")
    s.apply("transition", "running", status="running")
    s.heartbeat()
    s.heartbeat()
    s.apply("transition", "completed", status="completed")


def _silent(s: Script) -> None:
    s.apply("create", "running", status="running", heartbeat_timeout_seconds=1)
    s.by_service("failed")  # heartbeat-timeout:{job}:1:1


def _silent_retried(s: Script) -> None:
    s.apply("create", "running", status="running", heartbeat_timeout_seconds=1, retry_policy=_NOW)
    s.by_service("running")  # its attempt fails with heartbeat_timeout ...
    s.by_service("pending")  # ... and is retried


JOB_SCRIPTS: dict[str, Callable[[Script], None]] = {
    "happy": _happy,
    "pending_cancel": _pending_cancel,
    "terminal_guard": _terminal_guard,
    "guarded": _guarded,
    "forced": _forced,
    "retried": _retried,
    "conflicting": _conflicting,
    "orphan": _orphan,
    "retried_attempt": _retried_attempt,
    "not_retryable": _not_retryable,
    "backoff_cancelled": _backoff_cancelled,
    "heartbeats": _heartbeats,
    "silent": _silent,
    "silent_retried": _silent_retried,
}


def bad_input(job_id: str, kind: str) -> Script:
    """A record that is not a command (docs/contract.md §6): it must be dead-lettered with this reason."""
    key, value, code = _BAD[kind](job_id)
    script = Script(job_id, f"bad:{kind}")
    script.steps.append(Step(key, value, DEAD, job_id, code=code))
    return script


def _command_bytes(job_id: str, **fields: Any) -> bytes:
    return orjson.dumps({"command_id": uuid.uuid4().hex, "type": "create", "job_id": job_id, **fields})


_BAD: dict[str, Callable[[str], tuple[bytes | None, bytes | None, str]]] = {
    # 0xff never starts valid UTF-8, so these bytes can never parse as JSON by chance.
    "random_bytes": lambda job: (job.encode(), b"\xff" + os.urandom(64), "invalid_json"),
    "truncated_json": lambda job: (job.encode(), _command_bytes(job)[:-9], "invalid_json"),
    "wrong_type": lambda job: (
        job.encode(),
        orjson.dumps({"command_id": 7, "type": "cancel", "job_id": job}),
        "wrong_type",
    ),
    "unknown_type": lambda job: (job.encode(), _command_bytes(job, type="explode"), "unknown_type"),
    "key_mismatch": lambda job: (f"{job}-other".encode(), _command_bytes(job), "key_mismatch"),
    "one_mib": lambda job: (job.encode(), _command_bytes(job, metadata={"pad": "x" * 2**20}), "too_large"),
    "not_an_object": lambda job: (job.encode(), b'["create"]', "not_an_object"),
    "tombstone": lambda job: (job.encode(), None, "empty_value"),
}


def build_load(prefix: str, commands: int, bad_every: int, rng: random.Random) -> list[Script]:
    """Scripts totalling at least `commands` records, one bad input per `bad_every` (0: none), shuffled.

    Every kind of bad input appears at least once when any do, so each reason is checked."""
    bad_cycle = _cycle(BAD_INPUT_KINDS)

    def special(job_id: str, n: int) -> Script | None:
        return bad_input(job_id, next(bad_cycle)) if bad_every and n % bad_every == bad_every - 1 else None

    return assemble(prefix, commands, rng, special)


def assemble(
    prefix: str, commands: int, rng: random.Random, special: Callable[[str, int], Script | None]
) -> list[Script]:
    """Job scripts totalling at least `commands` records, shuffled: job `n` is `special(job_id, n)`, or,
    where that is None, an ordinary job following one of JOB_SCRIPTS."""
    scripts: list[Script] = []
    kinds = list(JOB_SCRIPTS)
    total = 0
    for n in itertools.count():
        if total >= commands:
            break
        job_id = f"{prefix}-{n:06d}"
        script = special(job_id, n)
        if script is None:
            kind = rng.choice(kinds)
            script = Script(job_id, kind)
            JOB_SCRIPTS[kind](script)
        scripts.append(script)
        total += len(script.steps)
    rng.shuffle(scripts)
    return scripts


def _cycle(items: tuple[str, ...]) -> Iterator[str]:
    while True:
        yield from items
