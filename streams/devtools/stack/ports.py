"""Ports for a local stack: the usual ones when they are free, else ones the OS says are free.

So two checkouts (or a checkout and a test's private stack) on one machine never fight over a port.
A port found free can still be taken before the service binds it; the service then fails to start
with the port in its message, and the next `up` chooses again only if nothing was recorded.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Mapping

HOST = "127.0.0.1"  # where the stack's services listen (server.properties, pg_ctl -h)


def is_free(port: int, host: str = HOST) -> bool:
    """Nothing listens on host:port (nor on the wildcard address, which would refuse the bind too)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(count: int, host: str = HOST, avoid: frozenset[int] = frozenset()) -> list[int]:
    """`count` distinct ports that are free now: bound to port 0 all at once, then released."""
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        while len(ports) < count:
            probe = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
            if port not in avoid:
                ports.append(port)
        return ports


def choose_ports(preferred: Mapping[str, int], host: str = HOST) -> dict[str, int]:
    """Each preferred port where it is free, a free one in place of each that is not; all distinct."""
    chosen = {name: port for name, port in preferred.items() if is_free(port, host)}
    busy = [name for name in preferred if name not in chosen]
    replacements = free_ports(len(busy), host, avoid=frozenset(chosen.values()))
    chosen.update(zip(busy, replacements, strict=True))
    return {name: chosen[name] for name in preferred}
