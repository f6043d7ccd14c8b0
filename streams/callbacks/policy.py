"""The retry verdict: turn one attempt's outcome into deliver, retry-after or give-up. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from streams.callbacks.outcome import AttemptOutcome
from streams.retry import Backoff, Uniform
from streams.settings import CallbackSettings

RETRIABLE_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class Delivered:
    status_code: int


@dataclass(frozen=True)
class RetryAt:
    """Try again after `delay_s` seconds; `reason` is the error this attempt ended with."""

    delay_s: float
    reason: str


@dataclass(frozen=True)
class DeliveryFailed:
    """Stop: the error is final or attempts are exhausted; `reason` is for the job's record."""

    reason: str


DeliveryVerdict = Delivered | RetryAt | DeliveryFailed


def is_retriable_status(status_code: int) -> bool:
    return status_code in RETRIABLE_STATUSES or 500 <= status_code < 600


def classify(outcome: AttemptOutcome) -> tuple[bool, str]:
    """(retriable, reason) for an attempt that did not succeed."""
    if outcome.blocked:
        return False, f"blocked URL: {outcome.error or 'failed the SSRF checks'}"
    if outcome.status_code is not None:
        reason = outcome.error or f"HTTP {outcome.status_code}"
        return is_retriable_status(outcome.status_code), reason
    if outcome.timed_out:
        return True, outcome.error or "timed out"
    return True, outcome.error or "no response"


def judge_attempt(
    attempt: int, outcome: AttemptOutcome, settings: CallbackSettings, rng: Uniform
) -> DeliveryVerdict:
    """Judge attempt number `attempt` (1-based): 2xx delivers; 408/429/5xx/network errors retry
    (Retry-After honoured, capped) until `max_attempts`; blocked URLs and other statuses give up.
    """
    if attempt < 1:
        raise ValueError(f"attempt is 1-based, got {attempt}")
    if outcome.succeeded:
        assert outcome.status_code is not None
        return Delivered(outcome.status_code)
    retriable, reason = classify(outcome)
    if not retriable:
        return DeliveryFailed(reason)
    if attempt >= settings.max_attempts:
        return DeliveryFailed(f"delivery exhausted after {attempt} attempts; last error: {reason}")
    backoff = Backoff(settings.backoff_base_s, settings.backoff_cap_s)
    return RetryAt(backoff.delay(attempt, outcome.retry_after_s, rng), reason)
