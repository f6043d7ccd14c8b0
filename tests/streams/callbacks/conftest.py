"""Fixtures for callback tests: loopback receivers, a throwaway PKI, a signing secret."""

from __future__ import annotations

import asyncio
import base64
import os
import shlex
import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator

import pytest

from tests.support.callback_receivers import FakeDns, Pki, Receiver, ipv6_loopback_available

ReceiverFactory = Callable[..., Receiver]


@pytest.fixture
def make_receiver() -> Iterator[ReceiverFactory]:
    receivers: list[Receiver] = []

    def make(host: str = "127.0.0.1", tls: ssl.SSLContext | None = None, port: int = 0) -> Receiver:
        receiver = Receiver(host, tls, port)
        receivers.append(receiver)
        return receiver

    yield make
    for receiver in receivers:
        receiver.close()


@pytest.fixture
def receiver(make_receiver: ReceiverFactory) -> Receiver:
    return make_receiver()


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA and a server certificate for "localhost", made with the openssl CLI."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl CLI not available")
    d = tmp_path_factory.mktemp("pki")
    ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"

    def run(command: str) -> None:
        subprocess.run([openssl, *shlex.split(command)], check=True, capture_output=True, cwd=d)

    ca_ext = "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign"
    run(f"req -x509 {ec} -keyout ca.key -out ca.pem -days 2 -subj '/CN=test CA' {ca_ext}")
    run(f"req {ec} -keyout leaf.key -out leaf.csr -subj /CN=localhost")
    (d / "leaf.ext").write_text(
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid,issuer\nsubjectKeyIdentifier=hash\n"
    )
    run("x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -days 2 -extfile leaf.ext -out leaf.pem")
    return Pki(ca=d / "ca.pem", cert=d / "leaf.pem", key=d / "leaf.key")


@pytest.fixture(scope="session")
def ipv6_loopback() -> bool:
    return ipv6_loopback_available()


@pytest.fixture
async def fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    """Route the running loop's getaddrinfo (used by the SSRF guard and by anyio) through FakeDns."""
    loop = asyncio.get_running_loop()
    dns = FakeDns(loop.getaddrinfo)
    monkeypatch.setattr(loop, "getaddrinfo", dns.getaddrinfo)
    return dns
