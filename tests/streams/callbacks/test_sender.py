"""HttpxCallbackSender against real loopback receivers: signing, statuses, timeouts, redirects, TLS."""

from __future__ import annotations

import random
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import orjson
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from schemas.callbacks import build_payload, encode_body
from streams.callbacks.outcome import AttemptOutcome
from streams.callbacks.policy import Delivered, DeliveryFailed, DeliveryVerdict, RetryAt, judge_attempt
from streams.callbacks.sender import CallbackRequest, CallbackSender, HttpxCallbackSender
from streams.settings import CallbackSettings, parse_cidrs
from tests.support.callback_receivers import FakeDns, Pki, Receiver

MakeReceiver = Callable[..., Receiver]
LOOPBACK = parse_cidrs("127.0.0.0/8")
JOB = {
    "id": "job_123",
    "status": "succeeded",
    "stop_reason": None,
    "completed_at": datetime(2025, 3, 1, 12, 0, 5, tzinfo=UTC),
    "metadata": {"customer": "acme", "note": "naïve ✓"},
}


def settings(secret: str | None = None, **overrides: object) -> CallbackSettings:
    values: dict[str, object] = {"secret": secret, "allow_cidrs": LOOPBACK, "timeout_s": 2.0, **overrides}
    return CallbackSettings(**values)  # type: ignore[arg-type]


def request_for(url: str, event_id: str = "evt_abc", organization_id: str | None = None) -> CallbackRequest:
    return CallbackRequest(url, event_id, build_payload(JOB, event_id), organization_id)


async def deliver(
    sender: CallbackSender, request: CallbackRequest, config: CallbackSettings
) -> tuple[DeliveryVerdict, list[AttemptOutcome]]:
    """The loop a dispatcher runs, without the sleeping: attempt, judge, repeat."""
    outcomes: list[AttemptOutcome] = []
    for attempt in range(1, config.max_attempts + 1):
        outcome = await sender.send(request)
        outcomes.append(outcome)
        verdict = judge_attempt(attempt, outcome, config, random.Random(attempt))
        if not isinstance(verdict, RetryAt):
            return verdict, outcomes
    raise AssertionError("judge_attempt() must give up by max_attempts")


async def test_delivery_is_signed_and_verifies(receiver: Receiver, secret: str) -> None:
    sender = HttpxCallbackSender(settings(secret))
    outcome = await sender.send(request_for(receiver.url()))
    assert outcome.status_code == 200 and outcome.succeeded and outcome.error is None
    [seen] = receiver.requests
    assert (seen.method, seen.path) == ("POST", "/hook")
    assert Webhook(secret).verify(seen.body, seen.headers) == orjson.loads(seen.body)
    headers = seen.headers
    assert headers["webhook-id"] == "evt_abc"
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 5
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["content-type"] == "application/json"
    assert headers["host"] == f"127.0.0.1:{receiver.port}"
    assert seen.body == encode_body(build_payload(JOB, "evt_abc"))
    assert orjson.loads(seen.body) == {
        "event_id": "evt_abc",
        "job_id": "job_123",
        "status": "succeeded",
        "stop_reason": None,
        "completed_at": "2025-03-01T12:00:05Z",
        "metadata": {"customer": "acme", "note": "naïve ✓"},
    }
    assert b": " not in seen.body and b", " not in seen.body  # compact


async def test_host_header_keeps_the_name_while_connecting_to_the_ip(receiver: Receiver) -> None:
    outcome = await HttpxCallbackSender(settings()).send(
        request_for(receiver.url("/cb?x=1", host="localhost"))
    )
    assert outcome.status_code == 200
    [seen] = receiver.requests
    assert seen.path == "/cb?x=1"
    assert seen.headers["host"] == f"localhost:{receiver.port}"


async def test_organization_secret_wins_over_the_global_one(receiver: Receiver, secret: str) -> None:
    global_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    config = settings(global_secret, org_secrets={"acme": secret})
    sender = HttpxCallbackSender(config)
    await sender.send(request_for(receiver.url(), organization_id="acme"))
    await sender.send(request_for(receiver.url(), organization_id="globex"))
    acme, globex = receiver.requests
    Webhook(secret).verify(acme.body, acme.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(global_secret).verify(acme.body, acme.headers)
    Webhook(global_secret).verify(globex.body, globex.headers)


async def test_without_a_secret_the_request_is_unsigned(receiver: Receiver) -> None:
    await HttpxCallbackSender(settings()).send(request_for(receiver.url()))
    headers = set(receiver.requests[0].headers)
    assert {"webhook-id", "webhook-timestamp"} <= headers
    assert "webhook-signature" not in headers


async def test_retries_reuse_the_webhook_id_and_body(receiver: Receiver, secret: str) -> None:
    receiver.respond(503).respond(500)
    ticks = iter([1_700_000_000.0 + i for i in range(100)])
    config = settings(secret)
    sender = HttpxCallbackSender(config, clock=lambda: next(ticks))
    verdict, outcomes = await deliver(sender, request_for(receiver.url()), config)
    assert verdict == Delivered(200)
    assert [o.status_code for o in outcomes] == [503, 500, 200]
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    bodies = {r.body for r in receiver.requests}
    assert ids == {"evt_abc"} and len(bodies) == 1
    stamps = [int(r.headers["webhook-timestamp"]) for r in receiver.requests]
    assert stamps == sorted(set(stamps))  # fresh timestamp (and signature) per attempt


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (200, {}, Delivered(200)),
        (204, {}, Delivered(204)),
        (408, {}, RetryAt),
        (429, {"Retry-After": "7"}, RetryAt(7.0, "HTTP 429")),
        (503, {"Retry-After": "HTTP-DATE+30"}, RetryAt(30.0, "HTTP 503")),
        (503, {"Retry-After": "86400"}, RetryAt(300.0, "HTTP 503")),
        (500, {}, RetryAt),
        (502, {}, RetryAt),
        (404, {}, DeliveryFailed("HTTP 404")),
        (400, {"Retry-After": "5"}, DeliveryFailed("HTTP 400")),
        (410, {}, DeliveryFailed("HTTP 410")),
    ],
)
async def test_status_verdicts(
    receiver: Receiver, status: int, headers: dict[str, str], expected: DeliveryVerdict | type[RetryAt]
) -> None:
    now = 1_700_000_000.0
    if headers.get("Retry-After") == "HTTP-DATE+30":
        headers = {
            "Retry-After": format_datetime(datetime.fromtimestamp(now, UTC) + timedelta(seconds=30), True)
        }
    receiver.respond(status, headers)
    config = settings()
    outcome = await HttpxCallbackSender(config, clock=lambda: now).send(request_for(receiver.url()))
    assert outcome.status_code == status
    verdict = judge_attempt(1, outcome, config, random.Random(1))
    if expected is RetryAt:
        assert isinstance(verdict, RetryAt) and verdict.reason == f"HTTP {status}"
        assert 0.0 <= verdict.delay_s <= config.backoff_base_s
    else:
        assert verdict == expected


async def test_connection_refused_is_a_retriable_network_error(closed_port: int) -> None:
    config = settings()
    outcome = await HttpxCallbackSender(config).send(request_for(f"http://127.0.0.1:{closed_port}/hook"))
    assert outcome.status_code is None and not outcome.blocked and not outcome.timed_out
    assert outcome.error is not None and outcome.error.startswith("ConnectError")
    assert f"127.0.0.1:{closed_port}" in outcome.error
    assert isinstance(judge_attempt(1, outcome, config, random.Random(1)), RetryAt)


async def test_hanging_receiver_times_out_retriably(receiver: Receiver) -> None:
    receiver.hang(10)
    config = settings(timeout_s=0.5)
    outcome = await HttpxCallbackSender(config).send(request_for(receiver.url()))
    assert outcome.timed_out and outcome.status_code is None and not outcome.blocked
    assert 0.4 <= outcome.elapsed_s < 3.0
    assert len(receiver.requests) == 1
    verdict = judge_attempt(1, outcome, config, random.Random(1))
    assert isinstance(verdict, RetryAt)


async def test_exhaustion_after_max_attempts(receiver: Receiver) -> None:
    for _ in range(3):
        receiver.respond(500)
    config = settings(max_attempts=3)
    verdict, outcomes = await deliver(HttpxCallbackSender(config), request_for(receiver.url()), config)
    assert verdict == DeliveryFailed("delivery exhausted after 3 attempts; last error: HTTP 500")
    assert len(outcomes) == 3 and len(receiver.requests) == 3


async def test_redirects_are_not_followed(make_receiver: MakeReceiver) -> None:
    first = make_receiver("127.0.0.1")
    second = make_receiver("127.0.0.2")
    first.respond(302, {"Location": second.url("/stolen")})
    config = settings(allow_cidrs=parse_cidrs("127.0.0.1/32"))
    outcome = await HttpxCallbackSender(config).send(request_for(first.url()))
    assert outcome.status_code == 302
    assert outcome.error == f"HTTP 302: redirect to {second.url('/stolen')!r} not followed"
    verdict = judge_attempt(1, outcome, config, random.Random(1))
    assert isinstance(verdict, DeliveryFailed) and "redirect" in verdict.reason
    assert second.connections == 0
    assert len(first.requests) == 1


async def test_redirect_to_an_allowed_address_is_not_followed_either(receiver: Receiver) -> None:
    receiver.respond(307, {"Location": receiver.url("/elsewhere")})
    outcome = await HttpxCallbackSender(settings()).send(request_for(receiver.url()))
    assert outcome.status_code == 307
    assert [r.path for r in receiver.requests] == ["/hook"]


async def test_connects_to_the_checked_address_without_resolving_again(
    make_receiver: MakeReceiver, fake_dns: FakeDns
) -> None:
    checked = make_receiver("127.0.0.1")
    try:
        rebound = make_receiver("127.0.0.2", port=checked.port)
    except OSError:
        pytest.skip("cannot bind 127.0.0.2 on the same port")
    # DNS rebinding: the first answer passes the allow-list, any later one points elsewhere.
    fake_dns.answer("rebind.test", ["127.0.0.1"], ["127.0.0.2"])
    config = settings(allow_cidrs=parse_cidrs("127.0.0.1/32"))
    outcome = await HttpxCallbackSender(config).send(request_for(f"http://rebind.test:{checked.port}/hook"))
    assert outcome.status_code == 200
    assert fake_dns.lookups.count("rebind.test") == 1
    assert rebound.connections == 0
    [seen] = checked.requests
    assert seen.headers["host"] == f"rebind.test:{checked.port}"


async def test_proxy_environment_is_ignored(
    receiver: Receiver, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{closed_port}")
    outcome = await HttpxCallbackSender(settings()).send(request_for(receiver.url()))
    assert outcome.status_code == 200


async def test_https_verifies_the_host_name_against_the_checked_ip(
    make_receiver: MakeReceiver, pki: Pki
) -> None:
    sni: list[str | None] = []
    receiver = make_receiver("127.0.0.1", tls=pki.server_context(sni))
    sender = HttpxCallbackSender(settings(), ssl_context=pki.client_context())
    outcome = await sender.send(request_for(receiver.url(host="localhost")))
    assert outcome.status_code == 200, outcome
    assert sni == ["localhost"]
    assert receiver.requests[0].headers["host"] == f"localhost:{receiver.port}"


async def test_https_with_an_untrusted_certificate_is_a_retriable_error(
    make_receiver: MakeReceiver, pki: Pki
) -> None:
    receiver = make_receiver("127.0.0.1", tls=pki.server_context([]))
    config = settings()
    outcome = await HttpxCallbackSender(config, ssl_context=ssl.create_default_context()).send(
        request_for(receiver.url(host="localhost"))
    )
    assert outcome.status_code is None and outcome.error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in outcome.error
    assert receiver.requests == []
    assert isinstance(judge_attempt(1, outcome, config, random.Random(1)), RetryAt)
