"""The benchmark's command mix and what Postgres must say at the end (no I/O)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import orjson

TERMINALS = ("completed", "failed", "cancelled")
ILLEGAL_SHARE = 0.05
DUPLICATE_SHARE = 0.01


@dataclass(frozen=True, slots=True)
class Expected:
    status: str
    seq: int


@dataclass(slots=True)
class Workload:
    """Commands in send order (job-interleaved), keyed by job id, and each job's expected end state."""

    commands: list[tuple[bytes, bytes]] = field(default_factory=list)
    expected: dict[str, Expected] = field(default_factory=dict)
    illegal: int = 0
    duplicates: int = 0


def build(n_commands: int, n_jobs: int, run_id: str, seed: int = 7) -> Workload:
    """Each job: create, pending, running, terminal, padded with metadata updates and message links to
    n_commands/n_jobs commands; 5 % of all commands are illegal transitions, 1 % resend an earlier command."""
    rng = random.Random(seed)
    per_job = max(4, n_commands // n_jobs)
    n_illegal = round(n_commands * ILLEGAL_SHARE)
    n_dup = round(n_commands * DUPLICATE_SHARE)
    # Which jobs get an illegal or duplicate command in place of one of their padding commands.
    padding_slots = [(j, k) for j in range(n_jobs) for k in range(per_job - 4)]
    rng.shuffle(padding_slots)
    illegal_slots = set(padding_slots[:n_illegal])
    dup_slots = set(padding_slots[n_illegal : n_illegal + n_dup])
    per_job_commands: list[list[dict[str, Any]]] = []
    workload = Workload()
    for j in range(n_jobs):
        job_id = f"{run_id}-{j:06d}"
        terminal = TERMINALS[j % len(TERMINALS)]
        lifecycle: list[dict[str, Any]] = [
            {"type": "create", "metadata": {"n": j}},
            {"type": "transition", "status": "pending"},
            {"type": "transition", "status": "running"},
            {"type": "transition", "status": terminal, "stop_reason": "end_turn"},
        ]
        padding: list[dict[str, Any]] = []
        for k in range(per_job - 4):
            if (j, k) in illegal_slots:
                padding.append({"type": "transition", "status": "created"})  # never legal (rule 2)
            elif (j, k) in dup_slots:
                padding.append({"duplicate": True})
            elif k % 2:
                padding.append({"type": "attach_messages", "message_ids": [f"m{k}"]})
            else:
                padding.append({"type": "update_metadata", "metadata": {f"k{k}": k}})
        # create first, the terminal last, padding spread between the lifecycle steps
        steps = [
            lifecycle[0],
            *padding[: len(padding) // 2],
            lifecycle[1],
            lifecycle[2],
            *padding[len(padding) // 2 :],
            lifecycle[3],
        ]
        sent: list[dict[str, Any]] = []
        n_applied = 0
        for i, step in enumerate(steps):
            if step.get("duplicate"):
                command = dict(rng.choice(sent))  # same command_id: applied once, re-emitted
                workload.duplicates += 1
            else:
                command = {"command_id": f"{job_id}-{i}", "job_id": job_id, **step}
                if step.get("status") == "created":
                    workload.illegal += 1
                else:
                    n_applied += 1
            sent.append(command)
        per_job_commands.append(sent)
        workload.expected[job_id] = Expected(terminal, n_applied)
    # Interleave jobs so each batch the worker takes spans many jobs, as real traffic does.
    for position in range(max(len(c) for c in per_job_commands)):
        for sent in per_job_commands:
            if position < len(sent):
                command = sent[position]
                workload.commands.append((command["job_id"].encode(), orjson.dumps(command)))
    return workload
