"""SSRF guard: blocked URLs never reach a socket; the allow-list admits chosen networks."""

from __future__ import annotations

import socket
from collections.abc import Callable
from ipaddress import ip_address, ip_network

import pytest

from streams.callbacks.exceptions import BlockedURL, ResolutionFailed
from streams.callbacks.outcome import AttemptOutcome
from streams.callbacks.policy import DeliveryFailed, judge_attempt
from streams.callbacks.sender import CallbackRequest, HttpxCallbackSender
from streams.callbacks.ssrf import Target, blocked_reason, resolve_public_target
from streams.settings import CallbackSettings, parse_cidrs
from tests.support.callback_receivers import FakeDns, Receiver

NOTHING_ALLOWED = CallbackSettings(timeout_s=2.0)


def blocked_urls(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/hook",
        f"http://localhost:{port}/hook",
        f"http://127.1:{port}/hook",
        f"http://2130706433:{port}/hook",
        f"http://0x7f000001:{port}/hook",
        f"http://[::ffff:127.0.0.1]:{port}/hook",
        f"http://[::ffff:7f00:1]:{port}/hook",
        f"http://[::1]:{port}/hook",
        f"http://0.0.0.0:{port}/hook",
        f"http://[::]:{port}/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://[fe80::1]/",
        "http://100.64.0.1/",
        "http://10.0.0.1/",
        "http://172.16.0.1/",
        "http://192.168.0.1/",
        "http://224.0.0.1/",
        "http://[ff02::1]/",
        "http://240.0.0.1/",
        "http://255.255.255.255/",
        "http://[fd00::1]/",
        "http://[fec0::1]/",
        "http://[64:ff9b::7f00:1]/",
        "http://[2002:7f00:1::]/",
        f"http://user:pw@127.0.0.1:{port}/hook",
        "http://user:pw@example.com/",
        "http://user@example.com/",
        f"ftp://127.0.0.1:{port}/hook",
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "gopher://example.com/",
        "http:///hook",
        "/relative/hook",
        "http://example.com:0/",
        "http://example.com:99999/",
        "http://exa mple.com/",
    ]


async def test_blocked_urls_never_connect(
    make_receiver: Callable[..., Receiver], ipv6_loopback: bool
) -> None:
    listener = make_receiver("127.0.0.1")
    listener6 = make_receiver("::1") if ipv6_loopback else None
    sender = HttpxCallbackSender(NOTHING_ALLOWED)
    for url in blocked_urls(listener.port) + ([listener6.url()] if listener6 else []):
        outcome = await sender.send(CallbackRequest(url=url, event_id="evt_1", payload={"x": 1}))
        assert outcome.blocked, (url, outcome)
        assert outcome.status_code is None
        verdict = judge_attempt(1, outcome, NOTHING_ALLOWED, _rng)
        assert isinstance(verdict, DeliveryFailed), (url, verdict)
        assert verdict.reason.startswith("blocked URL: "), (url, verdict)
    assert listener.connections == 0
    assert listener.requests == []
    if listener6 is not None:
        assert listener6.connections == 0


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "127.0.0.1 is loopback"),
        ("http://localhost:8080/", "localhost resolves to 127.0.0.1, which is loopback"),
        ("http://[::1]/", "::1 is loopback"),
        ("http://169.254.169.254/", "169.254.169.254 is link-local"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1 is loopback (as 127.0.0.1)"),
        ("http://[::ffff:a9fe:a9fe]/", "::ffff:a9fe:a9fe is link-local (as 169.254.169.254)"),
        ("http://100.64.0.1/", "100.64.0.1 is shared address space (CGNAT 100.64.0.0/10)"),
        ("http://[64:ff9b::a9fe:a9fe]/", "64:ff9b::a9fe:a9fe is link-local (as 169.254.169.254)"),
        ("http://[2002:a00:1::]/", "2002:a00:1:: is a tunnel to 10.0.0.1, which is private"),
        ("http://user:pw@example.com/", "credentials (userinfo) in the URL are not allowed"),
        ("ftp://example.com/", "scheme 'ftp' is not allowed (only http and https)"),
        ("http://example.com:99999/", "port 99999 is out of range"),
        ("http://exa mple.com/", "invalid host name 'exa%20mple.com'"),
        ("http://evil.com%2f@127.0.0.1/", "credentials (userinfo) in the URL are not allowed"),
    ],
)
async def test_blocked_reasons(url: str, reason: str) -> None:
    with pytest.raises(BlockedURL) as caught:
        await resolve_public_target(url, ())
    assert caught.value.reason == reason
    assert caught.value.retriable is False


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::"],
)
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(ip_address(address)) is None


async def test_public_ip_literal_resolves_without_dns() -> None:
    target = await resolve_public_target("https://8.8.8.8/hook?a=1&b=%20", ())
    assert target == Target(
        scheme="https", host="8.8.8.8", port=443, path="/hook?a=1&b=%20", ip=ip_address("8.8.8.8")
    )
    assert target.request_url == "https://8.8.8.8:443/hook?a=1&b=%20"
    assert target.host_header == "8.8.8.8"
    assert target.sni_hostname is None


async def test_ipv6_literal_target() -> None:
    target = await resolve_public_target("http://[2606:4700:4700::1111]:8080/", ())
    assert target.request_url == "http://[2606:4700:4700::1111]:8080/"
    assert target.host_header == "[2606:4700:4700::1111]:8080"


async def test_allow_list_admits_loopback() -> None:
    allow = parse_cidrs("127.0.0.0/8")
    target = await resolve_public_target("http://localhost:8080/cb", allow)
    assert target.ip == ip_address("127.0.0.1")
    assert (target.host, target.host_header, target.sni_hostname) == (
        "localhost",
        "localhost:8080",
        "localhost",
    )
    assert target.request_url == "http://127.0.0.1:8080/cb"


async def test_allow_list_admits_ipv4_mapped_form_as_ipv4() -> None:
    target = await resolve_public_target("http://[::ffff:127.0.0.1]:81/", parse_cidrs("127.0.0.1/32"))
    assert target.ip == ip_address("127.0.0.1")


async def test_allow_list_is_exact() -> None:
    allow = parse_cidrs("127.0.0.1/32")
    with pytest.raises(BlockedURL, match=r"127\.0\.0\.2 is loopback"):
        await resolve_public_target("http://127.0.0.2/", allow)
    with pytest.raises(BlockedURL, match=r"::1 is loopback"):
        await resolve_public_target("http://[::1]/", allow)


async def test_every_resolved_address_must_pass(fake_dns: FakeDns) -> None:
    fake_dns.answer("mixed.test", ["93.184.215.14", "10.0.0.7"])
    with pytest.raises(BlockedURL, match=r"mixed\.test resolves to 10\.0\.0\.7, which is private"):
        await resolve_public_target("http://mixed.test/", ())
    fake_dns.answer("public.test", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
    target = await resolve_public_target("http://public.test/", ())
    assert target.ip == ip_address("93.184.215.14")


async def test_resolution_failure_is_retriable(fake_dns: FakeDns) -> None:
    fake_dns.failures["nowhere.test"] = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    with pytest.raises(ResolutionFailed) as caught:
        await resolve_public_target("http://nowhere.test/", ())
    assert caught.value.retriable is True
    outcome = await HttpxCallbackSender(NOTHING_ALLOWED).send(
        CallbackRequest(url="http://nowhere.test/", event_id="evt_1", payload={})
    )
    assert outcome == AttemptOutcome(error=caught.value.reason, elapsed_s=outcome.elapsed_s)


def test_parse_cidrs() -> None:
    assert parse_cidrs("") == ()
    assert parse_cidrs(" 10.1.2.3/8 ,, fd00::/8 ") == (ip_network("10.0.0.0/8"), ip_network("fd00::/8"))
    with pytest.raises(ValueError, match="not a CIDR"):
        parse_cidrs("10.0.0.0/33")


class _FixedRng:
    def uniform(self, a: float, b: float) -> float:
        return b


_rng = _FixedRng()
