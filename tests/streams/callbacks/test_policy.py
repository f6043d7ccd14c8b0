"""The pure retry decision: statuses, network errors, Retry-After, jitter bounds, exhaustion."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from streams.callbacks.outcome import AttemptOutcome
from streams.callbacks.policy import Delivered, GiveUp, RetryAt, backoff_delay, decide
from streams.callbacks.retry_after import parse_retry_after
from streams.callbacks.settings import CallbackSettings

SETTINGS = CallbackSettings(max_attempts=5, backoff_base_s=1.0, backoff_cap_s=30.0)
NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


class Highest:
    """An rng that always picks the top of the range, to pin the backoff ceiling exactly."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_delivered(status: int) -> None:
    assert decide(1, AttemptOutcome(status_code=status), SETTINGS, random.Random(0)) == Delivered(status)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 599])
def test_408_429_and_5xx_are_retried_with_backoff(status: int) -> None:
    decision = decide(3, AttemptOutcome(status_code=status, error=f"HTTP {status}"), SETTINGS, Highest())
    assert decision == RetryAt(4.0, f"HTTP {status}")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 410, 413, 422, 301, 302, 307, 308])
def test_other_4xx_and_redirects_are_final(status: int) -> None:
    decision = decide(1, AttemptOutcome(status_code=status, error=f"HTTP {status}"), SETTINGS, Highest())
    assert decision == GiveUp(f"HTTP {status}")


def test_404_gives_up_even_with_attempts_and_retry_after_left() -> None:
    outcome = AttemptOutcome(status_code=404, error="HTTP 404", retry_after_s=1.0)
    assert decide(1, outcome, SETTINGS, Highest()) == GiveUp("HTTP 404")


def test_429_honours_retry_after_instead_of_backoff() -> None:
    outcome = AttemptOutcome(status_code=429, error="HTTP 429", retry_after_s=7.0)
    assert decide(1, outcome, SETTINGS, Highest()) == RetryAt(7.0, "HTTP 429")


def test_retry_after_is_capped() -> None:
    outcome = AttemptOutcome(status_code=503, error="HTTP 503", retry_after_s=3600.0)
    assert decide(1, outcome, SETTINGS, Highest()) == RetryAt(30.0, "HTTP 503")


def test_network_error_is_retried() -> None:
    outcome = AttemptOutcome(error="ConnectError: [Errno 111] Connection refused")
    decision = decide(1, outcome, SETTINGS, Highest())
    assert decision == RetryAt(1.0, "ConnectError: [Errno 111] Connection refused")


def test_timeout_is_retried() -> None:
    outcome = AttemptOutcome(error="ReadTimeout", timed_out=True)
    assert decide(2, outcome, SETTINGS, Highest()) == RetryAt(2.0, "ReadTimeout")


def test_blocked_url_is_final_with_the_reason() -> None:
    outcome = AttemptOutcome(error="127.0.0.1 is loopback", blocked=True)
    assert decide(1, outcome, SETTINGS, Highest()) == GiveUp("blocked URL: 127.0.0.1 is loopback")


def test_exhaustion_gives_up_naming_attempts_and_last_error() -> None:
    outcome = AttemptOutcome(status_code=503, error="HTTP 503", retry_after_s=1.0)
    assert isinstance(decide(4, outcome, SETTINGS, Highest()), RetryAt)
    decision = decide(5, outcome, SETTINGS, Highest())
    assert decision == GiveUp("delivery exhausted after 5 attempts; last error: HTTP 503")


def test_exhaustion_applies_to_network_errors_too() -> None:
    settings = CallbackSettings(max_attempts=1)
    decision = decide(1, AttemptOutcome(error="ReadTimeout", timed_out=True), settings, Highest())
    assert decision == GiveUp("delivery exhausted after 1 attempts; last error: ReadTimeout")


def test_success_on_the_last_attempt_is_still_delivered() -> None:
    assert decide(5, AttemptOutcome(status_code=200), SETTINGS, Highest()) == Delivered(200)


def test_attempt_is_one_based() -> None:
    with pytest.raises(ValueError, match="1-based"):
        decide(0, AttemptOutcome(status_code=200), SETTINGS, Highest())


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (500, 30.0)]
)
def test_backoff_ceiling_doubles_up_to_the_cap(attempt: int, ceiling: float) -> None:
    assert backoff_delay(attempt, 1.0, 30.0, Highest()) == ceiling


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 6, 10])
def test_full_jitter_stays_within_zero_and_the_ceiling(attempt: int) -> None:
    rng = random.Random(attempt)
    ceiling = min(30.0, 2.0 ** (attempt - 1))
    delays = [backoff_delay(attempt, 1.0, 30.0, rng) for _ in range(2000)]
    assert all(0.0 <= d <= ceiling for d in delays)
    # Full jitter spreads over the whole range, not just near the top.
    assert min(delays) < 0.05 * ceiling
    assert max(delays) > 0.95 * ceiling


def test_decide_uses_the_rng_it_is_given() -> None:
    outcome = AttemptOutcome(status_code=500, error="HTTP 500")
    first = decide(4, outcome, SETTINGS, random.Random(42))
    again = decide(4, outcome, SETTINGS, random.Random(42))
    assert first == again
    assert isinstance(first, RetryAt) and 0.0 <= first.delay_s <= 8.0


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
