"""SSRF guard: turn a callback URL into one checked, public IP address to connect to."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

import httpx

from streams.callbacks.exceptions import BlockedURL, ResolutionFailed

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

_DEFAULT_PORTS = {"http": 80, "https": 443}
# What reaches the resolver: ASCII labels (IDNA already applied by httpx), nothing percent-encoded.
_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63})*\.?")
_CGNAT = IPv4Network("100.64.0.0/10")
# Well-known NAT64 prefix (RFC 6052): a DNS64/NAT64 gateway forwards it to the embedded IPv4.
_NAT64 = IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class Target:
    """Where a request may go: the URL's parts plus the one address that passed the checks.

    Connecting to `ip` (never re-resolving `host`) is what closes the DNS-rebinding window.
    """

    scheme: str
    host: str  # ASCII (IDNA) host name or IP literal, without brackets
    port: int
    path: str  # raw path plus query, e.g. "/hook?x=1"
    ip: IPAddress

    @property
    def host_is_ip(self) -> bool:
        return _parse_ip(self.host) is not None

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def request_url(self) -> str:
        """The URL with the checked IP literal in place of the host name."""
        ip = f"[{self.ip}]" if self.ip.version == 6 else str(self.ip)
        return f"{self.scheme}://{ip}:{self.port}{self.path}"

    @property
    def sni_hostname(self) -> str | None:
        """Name for TLS SNI and certificate checks; None for IP-literal hosts (no SNI for IPs)."""
        return None if self.host_is_ip else self.host


def blocked_reason(ip: IPAddress) -> str | None:
    """Why `ip` is not a public unicast address, or None if it is.

    Stricter than `is_global` alone: Python 3.11 calls multicast, site-local and 6to4 addresses
    global, so those are checked explicitly, and IPv4 addresses inside IPv6 ones are unwrapped.
    """
    if isinstance(ip, IPv6Address):
        translated = _translated_ipv4(ip)
        if translated is not None:
            inner = blocked_reason(translated)
            return None if inner is None else f"{inner} (as {translated})"
    checks = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (isinstance(ip, IPv4Address) and ip in _CGNAT, "shared address space (CGNAT 100.64.0.0/10)"),
        (isinstance(ip, IPv6Address) and ip.is_site_local, "site-local"),
        (ip.is_reserved, "reserved"),
        (ip.is_private, "private"),
        (not ip.is_global, "not globally routable"),
    )
    reason = next((reason for blocked, reason in checks if blocked), None)
    if reason is None and isinstance(ip, IPv6Address):
        tunnelled = ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        inner = None if tunnelled is None else blocked_reason(tunnelled)
        if inner is not None:
            return f"a tunnel to {tunnelled}, which is {inner}"
    return reason


async def resolve_public_target(url: str, allow: Sequence[IPNetwork]) -> Target:
    """Check `url` and resolve its host; every address must be public or allow-listed.

    Raises BlockedURL (final) or ResolutionFailed (retriable). Checking every address, not just
    the one used, stops a name that mixes public and internal records from passing by luck.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise BlockedURL(f"invalid URL: {exc}") from exc
    scheme = parsed.scheme
    if scheme not in _DEFAULT_PORTS:
        raise BlockedURL(f"scheme {scheme!r} is not allowed (only http and https)")
    if parsed.userinfo:
        raise BlockedURL("credentials (userinfo) in the URL are not allowed")
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise BlockedURL("URL has no host")
    port = parsed.port if parsed.port is not None else _DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise BlockedURL(f"port {port} is out of range")

    literal = _parse_ip(host)
    if literal is None and not _HOSTNAME.fullmatch(host):
        raise BlockedURL(f"invalid host name {host!r}")
    addresses = [literal] if literal is not None else await _resolve(host, port)
    for ip in addresses:
        reason = None if _in_any(ip, allow) else blocked_reason(ip)
        if reason is None:
            continue
        if literal is None:
            raise BlockedURL(f"{host} resolves to {ip}, which is {reason}")
        raise BlockedURL(f"{host} is {reason}" + ("" if host == str(ip) else f" (as {ip})"))
    path = parsed.raw_path.decode("ascii")
    return Target(scheme=scheme, host=host, port=port, path=path, ip=addresses[0])


async def _resolve(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise ResolutionFailed(f"cannot resolve {host}: {exc}") from exc
    addresses: list[IPAddress] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = _parse_ip(str(sockaddr[0]))
        if ip is None:
            raise BlockedURL(f"{host} resolves to an unparseable address {sockaddr[0]!r}")
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise ResolutionFailed(f"cannot resolve {host}: no IPv4 or IPv6 addresses")
    return addresses


def _parse_ip(text: str) -> IPAddress | None:
    """An IP literal, with IPv4-mapped IPv6 unwrapped so it is checked and dialled as IPv4."""
    try:
        ip = ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _translated_ipv4(ip: IPv6Address) -> IPv4Address | None:
    """The IPv4 address traffic to `ip` really reaches: IPv4-mapped, or well-known NAT64."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _in_any(ip: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)
