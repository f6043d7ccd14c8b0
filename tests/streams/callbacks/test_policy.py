"""The pure retry verdict: statuses, network errors, Retry-After, exhaustion (the backoff itself:
tests/streams/test_retry.py)."""

from __future__ import annotations

import random

import pytest

from streams.callbacks.outcome import AttemptOutcome
from streams.callbacks.policy import Delivered, DeliveryFailed, RetryAt, judge_attempt
from streams.settings import CallbackSettings

SETTINGS = CallbackSettings(max_attempts=5, backoff_base_s=1.0, backoff_cap_s=30.0)


class Highest:
    """An rng that always picks the top of the range, to pin the backoff ceiling exactly."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_delivered(status: int) -> None:
    verdict = judge_attempt(1, AttemptOutcome(status_code=status), SETTINGS, random.Random(0))
    assert verdict == Delivered(status)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 599])
def test_408_429_and_5xx_are_retried_with_backoff(status: int) -> None:
    outcome = AttemptOutcome(status_code=status, error=f"HTTP {status}")
    verdict = judge_attempt(3, outcome, SETTINGS, Highest())
    assert verdict == RetryAt(4.0, f"HTTP {status}")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 410, 413, 422, 301, 302, 307, 308])
def test_other_4xx_and_redirects_are_final(status: int) -> None:
    outcome = AttemptOutcome(status_code=status, error=f"HTTP {status}")
    verdict = judge_attempt(1, outcome, SETTINGS, Highest())
    assert verdict == DeliveryFailed(f"HTTP {status}")


def test_404_gives_up_even_with_attempts_and_retry_after_left() -> None:
    outcome = AttemptOutcome(status_code=404, error="HTTP 404", retry_after_s=1.0)
    assert judge_attempt(1, outcome, SETTINGS, Highest()) == DeliveryFailed("HTTP 404")


def test_429_honours_retry_after_instead_of_backoff() -> None:
    outcome = AttemptOutcome(status_code=429, error="HTTP 429", retry_after_s=7.0)
    assert judge_attempt(1, outcome, SETTINGS, Highest()) == RetryAt(7.0, "HTTP 429")


def test_retry_after_is_capped() -> None:
    outcome = AttemptOutcome(status_code=503, error="HTTP 503", retry_after_s=3600.0)
    assert judge_attempt(1, outcome, SETTINGS, Highest()) == RetryAt(30.0, "HTTP 503")


def test_network_error_is_retried() -> None:
    outcome = AttemptOutcome(error="ConnectError: [Errno 111] Connection refused")
    verdict = judge_attempt(1, outcome, SETTINGS, Highest())
    assert verdict == RetryAt(1.0, "ConnectError: [Errno 111] Connection refused")


def test_timeout_is_retried() -> None:
    outcome = AttemptOutcome(error="ReadTimeout", timed_out=True)
    assert judge_attempt(2, outcome, SETTINGS, Highest()) == RetryAt(2.0, "ReadTimeout")


def test_blocked_url_is_final_with_the_reason() -> None:
    outcome = AttemptOutcome(error="127.0.0.1 is loopback", blocked=True)
    verdict = judge_attempt(1, outcome, SETTINGS, Highest())
    assert verdict == DeliveryFailed("blocked URL: 127.0.0.1 is loopback")


def test_exhaustion_gives_up_naming_attempts_and_last_error() -> None:
    outcome = AttemptOutcome(status_code=503, error="HTTP 503", retry_after_s=1.0)
    assert isinstance(judge_attempt(4, outcome, SETTINGS, Highest()), RetryAt)
    verdict = judge_attempt(5, outcome, SETTINGS, Highest())
    assert verdict == DeliveryFailed("delivery exhausted after 5 attempts; last error: HTTP 503")


def test_exhaustion_applies_to_network_errors_too() -> None:
    settings = CallbackSettings(max_attempts=1)
    verdict = judge_attempt(1, AttemptOutcome(error="ReadTimeout", timed_out=True), settings, Highest())
    assert verdict == DeliveryFailed("delivery exhausted after 1 attempts; last error: ReadTimeout")


def test_success_on_the_last_attempt_is_still_delivered() -> None:
    assert judge_attempt(5, AttemptOutcome(status_code=200), SETTINGS, Highest()) == Delivered(200)


def test_attempt_is_one_based() -> None:
    with pytest.raises(ValueError, match="1-based"):
        judge_attempt(0, AttemptOutcome(status_code=200), SETTINGS, Highest())


def test_decide_uses_the_rng_it_is_given() -> None:
    outcome = AttemptOutcome(status_code=500, error="HTTP 500")
    first = judge_attempt(4, outcome, SETTINGS, random.Random(42))
    again = judge_attempt(4, outcome, SETTINGS, random.Random(42))
    assert first == again
    assert isinstance(first, RetryAt) and 0.0 <= first.delay_s <= 8.0
