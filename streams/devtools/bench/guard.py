"""Whether a bench run would write somewhere other than the local stack (decided before any connection).

`jobstream bench` creates topics and writes 100k+ commands and thousands of job rows. That is fine on
this checkout's local stack and wrong on a shared cluster or database that KAFKA_BOOTSTRAP_SERVERS or
DATABASE_URL happen to point at, so those need `--i-know-this-writes-data`. `eval "$(jobstream stack
env)"` exports the local stack's own addresses: those count as the local stack.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from streams.settings import Settings

OVERRIDE_FLAG = "--i-know-this-writes-data"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def foreign_targets(settings: Settings) -> list[str]:
    """The configured services that are not the local stack, as "Kafka at …" / "Postgres at …"."""
    targets = []
    if settings.kafka_bootstrap_servers is not None and not is_local_kafka(
        settings.kafka_bootstrap_servers, settings.kafka_port
    ):
        targets.append(f"Kafka at {settings.kafka_bootstrap_servers} (KAFKA_BOOTSTRAP_SERVERS)")
    if settings.database_url is not None and not is_local_postgres(
        settings.database_url, settings.postgres_port
    ):
        targets.append(f"Postgres at {shown_url(settings.database_url)} (DATABASE_URL)")
    return targets


def refusal(settings: Settings, writes: str) -> str | None:
    """The one line that refuses the run, or None when everything it writes to is the local stack."""
    targets = foreign_targets(settings)
    if not targets:
        return None
    which, them = ("which are", "those variables") if len(targets) > 1 else ("which is", "that variable")
    return (
        f"bench: refusing to run: it would create topics and write {writes} to {' and '.join(targets)},"
        f" {which} not the local stack; unset {them} to use the local stack (`jobstream stack up`),"
        f" or pass {OVERRIDE_FLAG} to write there (the bench deletes its topics and rows afterwards)"
    )


def is_local_kafka(bootstrap: str, kafka_port: int) -> bool:
    """Every bootstrap address is a loopback one on the local stack's port."""
    addresses = [a.strip() for a in bootstrap.split(",") if a.strip()]
    return bool(addresses) and all(_is_local_address(a, kafka_port) for a in addresses)


def _is_local_address(address: str, port: int) -> bool:
    host, _, port_text = address.rpartition("://")[2].rpartition(":")
    return host.strip("[]").lower() in LOOPBACK and port_text == str(port)


def is_local_postgres(url: str, postgres_port: int) -> bool:
    """A TCP URL to a loopback host on the local stack's port (a socket path or other host is not)."""
    try:
        parts = urlsplit(url)
        port = parts.port or 5432
    except ValueError:
        return False
    local_host = (parts.hostname or "") in LOOPBACK
    return parts.scheme.startswith("postgres") and local_host and port == postgres_port


def shown_url(url: str) -> str:
    """host:port/database of a database URL, never its user or password."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "(socket)"
        port = parts.port or 5432
    except ValueError:
        return "(an unparsable URL)"
    return f"{host}:{port}{parts.path or '/'}"
