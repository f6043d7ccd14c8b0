"""The callback body (docs/contract.md §7): which job fields go out, and their exact bytes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

# The contract's fields in its order; Postgres jsonb reorders keys, so stored payloads are put back.
FIELDS = ("event_id", "job_id", "status", "stop_reason", "completed_at", "metadata")
DEFAULT_PORTS = {"http": 80, "https": 443}
# "https://" + a 253-character DNS name (the SSRF guard's limit) + ":65535"; the column's CHECK is this.
MAX_ENDPOINT_LENGTH = 270


def endpoint_key(url: str) -> tuple[str, str] | None:
    """(endpoint, host) of a callback URL: the circuit breaker's key, "scheme://host:port" (host lower-cased,
    IDNA-encoded, IPv6 in brackets, default port explicit), or None if the URL has no usable endpoint.

    None means no breaker: such a URL (unparseable, another scheme, an over-long host) is refused by the
    SSRF guard on its first attempt, a final error, so it can never fail repeatedly.
    """
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii").lower().rstrip(".")
        port = parsed.port
    except (httpx.InvalidURL, ValueError, TypeError, UnicodeError):
        return None
    if parsed.scheme not in DEFAULT_PORTS or not host:
        return None
    shown = f"[{host}]" if ":" in host else host
    key = f"{parsed.scheme}://{shown}:{port if port is not None else DEFAULT_PORTS[parsed.scheme]}"
    return (key, host) if len(key) <= MAX_ENDPOINT_LENGTH else None


def build_payload(job: Mapping[str, Any], event_id: str) -> dict[str, Any]:
    """The contract's fields, in its order; a datetime `completed_at` goes out in UTC."""
    return {
        "event_id": event_id,
        "job_id": job["id"],
        "status": job["status"],
        "stop_reason": job.get("stop_reason"),
        "completed_at": _utc(job.get("completed_at")),
        "metadata": job.get("metadata"),
    }


def in_spec_order(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A payload read back from jsonb (keys sorted by length) with the contract's field order again."""
    return {name: stored.get(name) for name in FIELDS}


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON; datetimes as RFC 3339 (UTC ones with "Z", naive ones taken as UTC)."""
    return orjson.dumps(dict(payload), option=orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z)


def _utc(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value
