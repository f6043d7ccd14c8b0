"""The one retry policy: full-jitter bounds, the cap, Retry-After, overflow, header parsing, the loop."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from streams.retry import Backoff, parse_retry_after, retry

BACKOFF = Backoff(base_s=1.0, cap_s=30.0)
NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


class Fixed:
    """An rng that always picks the same fraction of the range, and remembers the ranges it was given."""

    def __init__(self, fraction: float) -> None:
        self.fraction = fraction
        self.ranges: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.ranges.append((a, b))
        return a + (b - a) * self.fraction


class Flaky:
    """A call that fails with the given errors in turn, then returns "done"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def always(exc: Exception, attempt: int) -> bool:
    return True


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (500, 30.0)]
)
def test_the_ceiling_doubles_up_to_the_cap(attempt: int, ceiling: float) -> None:
    assert BACKOFF.ceiling(attempt) == ceiling
    assert BACKOFF.delay(attempt, rng=Fixed(1.0)) == ceiling


def test_full_jitter_draws_from_zero_to_the_ceiling() -> None:
    rng = Fixed(0.0)
    assert BACKOFF.delay(4, rng=rng) == 0.0
    assert rng.ranges == [(0.0, 8.0)]


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 6, 10])
def test_full_jitter_stays_within_zero_and_the_ceiling(attempt: int) -> None:
    rng = random.Random(attempt)
    ceiling = min(30.0, 2.0 ** (attempt - 1))
    delays = [BACKOFF.delay(attempt, rng=rng) for _ in range(2000)]
    assert all(0.0 <= d <= ceiling for d in delays)
    # Full jitter spreads over the whole range, not just near the top.
    assert min(delays) < 0.05 * ceiling
    assert max(delays) > 0.95 * ceiling


def test_the_default_rng_stays_within_bounds_too() -> None:
    assert all(0.0 <= BACKOFF.delay(3) <= 4.0 for _ in range(200))


@pytest.mark.parametrize("attempt", [1025, 10**6, 10**18])
def test_huge_attempts_do_not_overflow(attempt: int) -> None:
    assert BACKOFF.ceiling(attempt) == 30.0
    assert Backoff(base_s=1e300, cap_s=5.0).ceiling(attempt) == 5.0
    assert Backoff(base_s=1e-300, cap_s=5.0).ceiling(attempt) == 5.0


def test_a_zero_base_never_waits() -> None:
    assert Backoff(base_s=0.0, cap_s=5.0).delay(7, rng=Fixed(1.0)) == 0.0


@pytest.mark.parametrize(("retry_after", "expected"), [(7.0, 7.0), (0.0, 0.0), (30.0, 30.0)])
def test_retry_after_is_honoured_instead_of_the_jitter(retry_after: float, expected: float) -> None:
    rng = Fixed(1.0)
    assert BACKOFF.delay(5, retry_after, rng) == expected
    assert rng.ranges == []


@pytest.mark.parametrize(("retry_after", "expected"), [(3600.0, 30.0), (float("inf"), 30.0), (-3.0, 0.0)])
def test_retry_after_is_clamped_to_zero_and_the_cap(retry_after: float, expected: float) -> None:
    assert BACKOFF.delay(1, retry_after, Fixed(1.0)) == expected


def test_attempts_are_one_based() -> None:
    with pytest.raises(ValueError, match="1-based"):
        BACKOFF.ceiling(0)


@pytest.mark.parametrize(
    ("base", "cap"), [(-1.0, 5.0), (1.0, -1.0), (float("nan"), 5.0), (1.0, float("nan"))]
)
def test_a_negative_or_nan_backoff_is_refused(base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(base_s=base, cap_s=cap)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        (format_datetime(NOW - timedelta(seconds=90), usegmt=True), 0.0),
        ("Sat, 01 Mar 2025 12:00:30 GMT", 30.0),
        ("Saturday, 01-Mar-25 12:00:30 GMT", 30.0),  # the obsolete RFC 850 form
        ("Sat Mar  1 12:00:30 2025", 30.0),  # asctime, no zone: GMT
        (None, None),
        ("", None),
        ("soon", None),
        ("inf", None),
        ("nan", None),
        ("9" * 400, None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, NOW) == expected


def test_parse_retry_after_takes_a_naive_now_as_utc() -> None:
    assert parse_retry_after("Sat, 01 Mar 2025 12:00:30 GMT", NOW.replace(tzinfo=None)) == 30.0


def test_parse_retry_after_measures_dates_from_the_current_time_by_default() -> None:
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=100), usegmt=True)
    seconds = parse_retry_after(soon)
    assert seconds is not None and 90.0 < seconds <= 100.0
    assert parse_retry_after("Sat, 01 Mar 2025 12:00:30 GMT") == 0.0


async def test_retry_waits_the_backoff_between_attempts_and_returns_the_result() -> None:
    call, sleeps = Flaky(OSError("down"), OSError("down"), OSError("down")), Sleeps()
    assert await retry(call, always, BACKOFF, sleep=sleeps, rng=Fixed(1.0)) == "done"
    assert call.calls == 4
    assert sleeps.delays == [1.0, 2.0, 4.0]


async def test_retry_raises_the_last_error_once_the_attempts_are_spent() -> None:
    call, sleeps = Flaky(OSError("1"), OSError("2"), OSError("3")), Sleeps()
    with pytest.raises(OSError, match="2"):
        await retry(call, always, BACKOFF, 2, sleep=sleeps, rng=Fixed(1.0))
    assert call.calls == 2
    assert sleeps.delays == [1.0]


async def test_retry_raises_at_once_what_is_not_retryable_and_says_which_attempt_failed() -> None:
    seen: list[tuple[str, int]] = []

    def only_oserrors(exc: Exception, attempt: int) -> bool:
        seen.append((type(exc).__name__, attempt))
        return isinstance(exc, OSError)

    call, sleeps = Flaky(OSError("down"), ValueError("bad")), Sleeps()
    with pytest.raises(ValueError, match="bad"):
        await retry(call, only_oserrors, BACKOFF, sleep=sleeps, rng=Fixed(0.5))
    assert seen == [("OSError", 1), ("ValueError", 2)]
    assert sleeps.delays == [0.5]


async def test_retry_honours_the_errors_retry_after_and_reports_each_retry() -> None:
    reported: list[tuple[str, int, float]] = []
    call, sleeps = Flaky(OSError("slow down"), OSError("again")), Sleeps()
    await retry(
        call,
        always,
        BACKOFF,
        retry_after=lambda exc: 3600.0 if str(exc) == "slow down" else None,
        on_retry=lambda exc, attempt, delay: reported.append((str(exc), attempt, delay)),
        sleep=sleeps,
        rng=Fixed(1.0),
    )
    assert sleeps.delays == [30.0, 2.0]  # capped; then the backoff again
    assert reported == [("slow down", 1, 30.0), ("again", 2, 2.0)]


async def test_one_attempt_means_no_retry() -> None:
    call, sleeps = Flaky(OSError("down")), Sleeps()
    with pytest.raises(OSError):
        await retry(call, always, BACKOFF, 1, sleep=sleeps)
    assert (call.calls, sleeps.delays) == (1, [])


async def test_zero_attempts_are_refused() -> None:
    with pytest.raises(ValueError, match="attempts"):
        await retry(Flaky(), always, BACKOFF, 0)
