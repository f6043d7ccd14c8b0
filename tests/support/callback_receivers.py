"""Real loopback HTTP receivers for callback tests: scriptable, and they count every connection."""

from __future__ import annotations

import socket
import ssl
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Recorded:
    """One request as received; header names lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Respond:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Hang:
    seconds: float


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], family: socket.AddressFamily, tls: ssl.SSLContext | None):
        self.address_family = family
        self.tls = tls
        self.lock = threading.Lock()
        self.connections = 0
        self.requests: list[Recorded] = []
        self.script: deque[Respond | Hang] = deque()
        self.release = threading.Event()
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = super().get_request()
        with self.lock:
            self.connections += 1  # counted before TLS or HTTP: any connection at all shows here
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True)
        return sock, addr

    def next_action(self) -> Respond | Hang:
        with self.lock:
            return self.script.popleft() if self.script else Respond()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        with self.server.lock:
            self.server.requests.append(
                Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
        action = self.server.next_action()
        if isinstance(action, Hang):
            self.server.release.wait(action.seconds)
            action = Respond()
        try:
            self.send_response(action.status)
            for name, value in action.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", "0")
            self.send_header("connection", "close")
            self.end_headers()
        except OSError:
            pass  # the client gave up (timeout tests)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Receiver:
    """A callback receiver on a real socket, with a script of responses (default: 200)."""

    def __init__(self, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None, port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.host = host
        self._server = _Server((host, port), family, tls)
        self.port: int = self._server.server_address[1]
        self.scheme = "https" if tls else "http"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()

    def url(self, path: str = "/hook", host: str | None = None) -> str:
        name = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"{self.scheme}://{name}:{self.port}{path}"

    def respond(self, status: int, headers: dict[str, str] | None = None) -> Receiver:
        self._server.script.append(Respond(status, headers or {}))
        return self

    def hang(self, seconds: float) -> Receiver:
        self._server.script.append(Hang(seconds))
        return self

    @property
    def connections(self) -> int:
        with self._server.lock:
            return self._server.connections

    @property
    def requests(self) -> list[Recorded]:
        with self._server.lock:
            return list(self._server.requests)

    def close(self) -> None:
        self._server.release.set()
        self._server.shutdown()
        self._server.server_close()


def ipv6_loopback_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path

    def server_context(self, sni: list[str | None]) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)

        def record(_sock: Any, name: str | None, _ctx: Any) -> None:
            sni.append(name)

        ctx.sni_callback = record  # type: ignore[assignment]
        return ctx

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


class FakeDns:
    """Stands in for the event loop's resolver for chosen names; the rest go to the real one.

    Every lookup is recorded, so tests can prove a host name was resolved exactly once.
    """

    def __init__(self, real: Callable[..., Awaitable[list[Any]]]) -> None:
        self._real = real
        self._answers: dict[str, list[list[str]]] = {}
        self.failures: dict[str, OSError] = {}
        self.lookups: list[str] = []

    def answer(self, name: str, *answers: list[str]) -> None:
        """Successive lookups of `name` get successive answers; the last one repeats."""
        self._answers[name] = list(answers)

    async def getaddrinfo(
        self, host: Any, port: Any, *, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        self.lookups.append(name)
        if name in self.failures:
            raise self.failures[name]
        answers = self._answers.get(name)
        if answers is None:
            return await self._real(host, port, family=family, type=type, proto=proto, flags=flags)
        current = answers.pop(0) if len(answers) > 1 else answers[0]
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, int(port or 0), 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, int(port or 0)))
            for a in current
        ]
