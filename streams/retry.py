"""The one retry policy: capped exponential backoff with full jitter, Retry-After honoured but capped.

Every retry loop (settlement, callbacks, the poller, the client) waits by it, so their retries spread out
the same way and a change to how the service backs off is made here once.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol, TypeVar

T = TypeVar("T")

# 2.0**1024 raises OverflowError; from here on every base reaches any finite cap anyway.
_MAX_EXPONENT = 1023

# Whether failure number `attempt` (1-based) of a call deserves another attempt.
Retryable = Callable[[Exception, int], bool]
# Told of each retry before its wait: (the error, the failed attempt's number, the wait in seconds).
OnRetry = Callable[[Exception, int, float], None]


class Uniform(Protocol):
    """The one method of `random.Random` the policy needs; tests pass a seeded or fixed one."""

    def uniform(self, a: float, b: float) -> float: ...


_RNG: Uniform = random.Random()


@dataclass(frozen=True)
class Backoff:
    """How long to wait after a failed attempt: full jitter, so retries of many callers spread out
    instead of arriving together, and never longer than `cap_s`."""

    base_s: float
    cap_s: float

    def __post_init__(self) -> None:
        if not (self.base_s >= 0 and self.cap_s >= 0):  # also refuses NaN
            raise ValueError(f"backoff needs base_s >= 0 and cap_s >= 0, got {self.base_s}, {self.cap_s}")

    def ceiling(self, attempt: int) -> float:
        """The longest wait after failed attempt `attempt` (1-based): min(cap, base * 2**(attempt-1))."""
        if attempt < 1:
            raise ValueError(f"attempt is 1-based, got {attempt}")
        return min(self.cap_s, self.base_s * 2.0 ** min(attempt - 1, _MAX_EXPONENT))

    def delay(self, attempt: int, retry_after_s: float | None = None, rng: Uniform = _RNG) -> float:
        """The wait after failed attempt `attempt`: what the server asked for (Retry-After, clamped to
        [0, cap]) if it did, else uniform(0, ceiling(attempt))."""
        if retry_after_s is not None:
            return min(self.cap_s, max(0.0, retry_after_s))
        return rng.uniform(0.0, self.ceiling(attempt))


async def retry(
    call: Callable[[], Awaitable[T]],
    retryable: Retryable,
    backoff: Backoff,
    attempts: int | None = None,
    *,
    retry_after: Callable[[Exception], float | None] | None = None,
    on_retry: OnRetry | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: Uniform = _RNG,
) -> T:
    """Await `call` until it returns, waiting `backoff.delay` between attempts.

    A failure is raised as it is once `attempts` calls were made (None: no limit) or `retryable` says
    no. `retry_after` reads a server's requested wait from an error. Only `Exception`s are retried:
    cancellation (a stopping process) interrupts the wait at once.
    """
    if attempts is not None and attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    attempt = 1
    while True:
        try:
            return await call()
        except Exception as exc:
            if attempt == attempts or not retryable(exc, attempt):
                raise
            delay = backoff.delay(attempt, retry_after(exc) if retry_after is not None else None, rng)
            if on_retry is not None:
                on_retry(exc, attempt, delay)
        await sleep(delay)
        attempt += 1


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait (>= 0) from a Retry-After header (RFC 9110 §10.2.3), or None when absent or
    unparseable, so the caller falls back to its backoff.

    Accepts delay-seconds or an HTTP-date (measured from `now`, default the current time); a date in
    the past means "now" (0).
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)  # lenient: "1.5" is not RFC, but its meaning is clear
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # HTTP-dates are GMT by definition
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
