"""The breaker's endpoint key (docs/contract.md §7): one key per scheme, host and port, bounded."""

from __future__ import annotations

import pytest

from schemas.callbacks import MAX_ENDPOINT_LENGTH, endpoint_key
from streams.callbacks.breaker import signal
from streams.callbacks.outcome import AttemptOutcome


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://Hooks.Example.com/a?b=1", ("https://hooks.example.com:443", "hooks.example.com")),
        ("https://hooks.example.com:443/other", ("https://hooks.example.com:443", "hooks.example.com")),
        ("https://hooks.example.com./x", ("https://hooks.example.com:443", "hooks.example.com")),
        ("http://hooks.example.com/x", ("http://hooks.example.com:80", "hooks.example.com")),
        ("http://10.0.0.1:8080/x", ("http://10.0.0.1:8080", "10.0.0.1")),
        ("http://[2001:db8::1]:81/", ("http://[2001:db8::1]:81", "2001:db8::1")),
        ("https://bücher.example/", ("https://xn--bcher-kva.example:443", "xn--bcher-kva.example")),
    ],
)
def test_one_key_per_scheme_host_and_port(url: str, key: tuple[str, str]) -> None:
    assert endpoint_key(url) == key


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "not a url", "http:///nohost", "http://" + "a" * 300 + ".com/", ""]
)
def test_urls_without_a_usable_endpoint_have_no_breaker(url: str) -> None:
    assert endpoint_key(url) is None


def test_every_key_fits_its_column() -> None:
    longest = "https://" + ".".join(["a" * 63] * 3) + "." + "b" * 61 + ":65535/x"
    key = endpoint_key(longest)
    assert key is not None and len(key[0]) <= MAX_ENDPOINT_LENGTH


@pytest.mark.parametrize(
    ("outcome", "said"),
    [
        (AttemptOutcome(status_code=204), "success"),
        (AttemptOutcome(status_code=404), "success"),  # the receiver answered: it is up
        (AttemptOutcome(status_code=503), "failure"),
        (AttemptOutcome(status_code=429), "failure"),
        (AttemptOutcome(error="connection refused"), "failure"),
        (AttemptOutcome(error="timed out", timed_out=True), "failure"),
        (AttemptOutcome(error="loopback", blocked=True), None),  # nothing was sent
    ],
)
def test_what_an_attempt_says_about_its_endpoint(outcome: AttemptOutcome, said: str | None) -> None:
    assert signal(outcome) == said
