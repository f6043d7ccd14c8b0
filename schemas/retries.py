"""Rule 15's arithmetic: when a failed attempt is retried, and after how long. No I/O.

The wait is the policy's exponential backoff, jittered into its upper half ("equal jitter"): unlike the
service's own retries (streams/retry.py, full jitter from 0), a job's backoff is the producer's stated
minimum pause before the work runs again (an API's rate limit, a provider's outage), so it never shrinks
below half of it. The jitter is a hash of (job id, attempt), not a random draw: a batch the worker decides
again after a Postgres failure, or another worker after a rebalance, arrives at the same `retry_at`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from schemas.commands import RetryPolicy
from schemas.job import JobState

_FRACTION = float(2**64)


def policy_document(policy: RetryPolicy) -> dict[str, Any]:
    """The policy as the job stores and shows it: every field, defaults filled in."""
    return policy.model_dump(mode="json")


def backoff_ceiling(policy: dict[str, Any], attempt: int) -> float:
    """The longest wait after failed attempt `attempt` (1-based): min(cap, initial * multiplier**(n-1)).

    The bounds (schemas/bounds.py) keep the power finite: multiplier <= 10, attempt <= 100."""
    grown = policy["initial_backoff_seconds"] * policy["backoff_multiplier"] ** (attempt - 1)
    return float(min(policy["max_backoff_seconds"], grown))


def backoff_seconds(policy: dict[str, Any], job_id: str, attempt: int) -> float:
    """The wait after failed attempt `attempt`: in [ceiling / 2, ceiling], the same on every decision."""
    digest = hashlib.sha256(f"{job_id}:{attempt}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / _FRACTION
    ceiling = backoff_ceiling(policy, attempt)
    return ceiling / 2 + fraction * ceiling / 2


def retries(job: JobState, stop_reason: str | None) -> bool:
    """Whether a failure with `stop_reason` is retried (rule 15): a retryable reason, attempts left."""
    policy = job.retry_policy
    return (
        policy is not None
        and stop_reason is not None
        and stop_reason in policy["retryable_stop_reasons"]
        and job.attempt < job.max_attempts
    )


def retry_at(job: JobState, now: datetime) -> datetime:
    assert job.retry_policy is not None  # retries() said so
    return now + timedelta(seconds=backoff_seconds(job.retry_policy, job.id, job.attempt))


def retry_command_id(job_id: str, attempt: int) -> str:
    """Deterministic (rule 7): a re-pend published twice is a duplicate, never a second attempt."""
    return f"retry:{job_id}:{attempt}"


def heartbeat_timeout_command_id(job_id: str, attempt: int, deadline: datetime) -> str:
    """One per lapsed deadline (in epoch microseconds): a repeat is a duplicate (rule 7), and a deadline
    that heartbeats moved and that lapses later is another command."""
    micros = round(deadline.timestamp() * 1_000_000)
    return f"heartbeat-timeout:{job_id}:{attempt}:{micros}"
