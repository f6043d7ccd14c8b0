"""The soak's steady command mix (no I/O): jobs through the real command path, interleaved in rounds.

Per 10 jobs: 2 with a `callback_url` (completed, so the callback agent and dispatcher deliver them), 1
with a short `timeout_seconds` left running (the expiry scan moves it to `expired`), 2 `failed`, 5
`completed` with a metadata update and a message link on the way. About 5.4 commands a job.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

ROUND_JOBS = 50  # jobs interleaved in one round: a job's commands are ~250 commands apart
EXPIRE_AFTER_S = 3
KINDS: tuple[str, ...] = ("callback", "completed", "callback", "completed", "failed")
KINDS += ("expiring", "completed", "completed", "failed", "completed")


@dataclass(slots=True)
class MixCounts:
    """Jobs started, by kind (callback, expiring, failed, completed), for the end check against Postgres."""

    kinds: Counter[str] = field(default_factory=Counter)
    job_ids: list[str] = field(default_factory=list)


def job_commands(job_id: str, index: int, callback_url: str) -> tuple[str, list[dict[str, Any]]]:
    """(kind, commands) of the job numbered `index`."""
    chosen = KINDS[index % len(KINDS)]
    create: dict[str, Any] = {"type": "create", "job_type": "run", "metadata": {"n": index}}
    steps: list[dict[str, Any]] = [
        {"type": "transition", "status": "pending"},
        {"type": "transition", "status": "running"},
    ]
    if chosen == "callback":
        create["callback_url"] = callback_url
        steps.append({"type": "transition", "status": "completed", "stop_reason": "end_turn"})
    elif chosen == "expiring":
        create["timeout_seconds"] = EXPIRE_AFTER_S
    elif chosen == "failed":
        steps.append({"type": "transition", "status": "failed", "stop_reason": "error"})
    else:
        steps.insert(2, {"type": "update_metadata", "metadata": {"step": "running"}})
        steps.insert(3, {"type": "attach_messages", "message_ids": [f"{job_id}-m"]})
        steps.append({"type": "transition", "status": "completed", "stop_reason": "end_turn"})
    commands = [create, *steps]
    return chosen, [{"command_id": f"{job_id}-{i}", "job_id": job_id, **c} for i, c in enumerate(commands)]


def rounds(prefix: str, callback_url: str, counts: MixCounts) -> Iterator[tuple[str, bytes, bytes, bool]]:
    """(command id, key, value, last of its round) of every command, forever: rounds of ROUND_JOBS jobs,
    position by position (a run stops at a round's end, so every job it started has all its commands)."""
    while True:
        per_job = []
        for _ in range(ROUND_JOBS):
            index = len(counts.job_ids)
            job_id = f"{prefix}-{index:07d}"
            kind, commands = job_commands(job_id, index, callback_url)
            counts.job_ids.append(job_id)
            counts.kinds[kind] += 1
            per_job.append(commands)
        ordered = [
            commands[position]
            for position in range(max(len(c) for c in per_job))
            for commands in per_job
            if position < len(commands)
        ]
        for i, command in enumerate(ordered):
            command_id, key = command["command_id"], command["job_id"].encode()
            yield command_id, key, orjson.dumps(command), i == len(ordered) - 1
