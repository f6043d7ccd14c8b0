"""Callback delivery settings (JOBSTREAM_CALLBACK_*): how callbacks are signed, where they may go, and
how hard delivery tries. Secrets are checked here, so a bad one stops the worker at startup rather than
on the first terminal job."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_network
from types import MappingProxyType

from standardwebhooks import Webhook

from streams.settings.env import ConfigError, Knobs, check_knobs, env_list, invalid, knobs_from_env, raw

IPNetwork = IPv4Network | IPv6Network

SECRET_ENV = "JOBSTREAM_CALLBACK_SECRET"
SECRETS_ENV = "JOBSTREAM_CALLBACK_SECRETS"
ALLOW_CIDRS_ENV = "JOBSTREAM_CALLBACK_ALLOW_CIDRS"
TIMEOUT_ENV = "JOBSTREAM_CALLBACK_TIMEOUT_S"
MAX_ATTEMPTS_ENV = "JOBSTREAM_CALLBACK_MAX_ATTEMPTS"
BACKOFF_BASE_ENV = "JOBSTREAM_CALLBACK_BACKOFF_BASE_S"
BACKOFF_CAP_ENV = "JOBSTREAM_CALLBACK_BACKOFF_CAP_S"
BREAKER_FAILURES_ENV = "JOBSTREAM_CALLBACK_BREAKER_FAILURES"
BREAKER_OPEN_ENV = "JOBSTREAM_CALLBACK_BREAKER_OPEN_S"
DISABLE_AFTER_ENV = "JOBSTREAM_CALLBACK_DISABLE_AFTER_S"
MAX_DISABLE_AFTER_S = 366 * 86400.0  # a year: far beyond any sensible outage, still a valid interval
KNOBS: Knobs = {
    "timeout_s": (TIMEOUT_ENV, {"positive": True}),
    "max_attempts": (MAX_ATTEMPTS_ENV, {"minimum": 1}),
    "backoff_base_s": (BACKOFF_BASE_ENV, {"minimum": 0}),
    "backoff_cap_s": (BACKOFF_CAP_ENV, {"minimum": 0}),
    "breaker_failures": (BREAKER_FAILURES_ENV, {"minimum": 1, "maximum": 1_000_000}),
    "breaker_open_s": (BREAKER_OPEN_ENV, {"positive": True, "maximum": MAX_DISABLE_AFTER_S}),
    "disable_after_s": (DISABLE_AFTER_ENV, {"positive": True, "maximum": MAX_DISABLE_AFTER_S}),
}


@dataclass(frozen=True)
class CallbackSettings:
    """Secrets are kept out of repr so settings can be logged safely."""

    secret: str | None = field(default=None, repr=False)
    org_secrets: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    allow_cidrs: tuple[IPNetwork, ...] = ()
    timeout_s: float = 10.0
    max_attempts: int = 8
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 300.0
    # The circuit breaker per endpoint (docs/contract.md §7 "Circuit breaker"): this many failures in a
    # row open it; while open, one probe is made every breaker_open_s; failing for disable_after_s
    # (Svix's 5 days) disables the endpoint until an operator enables it again.
    breaker_failures: int = 5
    breaker_open_s: float = 30.0
    disable_after_s: float = 5 * 86400.0

    def __post_init__(self) -> None:
        check_knobs(self, KNOBS)
        if self.secret is not None:
            _check_secret(SECRET_ENV, self.secret)
        for org, secret in self.org_secrets.items():
            _check_secret(SECRETS_ENV, secret, org)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> CallbackSettings:
        return cls(
            secret=raw(environ, SECRET_ENV),
            org_secrets=MappingProxyType(_org_secrets(environ)),
            allow_cidrs=_cidrs(environ),
            **knobs_from_env(environ, KNOBS, cls),  # type: ignore[arg-type]
        )

    def secret_for(self, organization_id: str | None) -> str | None:
        """The organization's own secret if it has one, else the global one (None: unsigned)."""
        if organization_id is not None and organization_id in self.org_secrets:
            return self.org_secrets[organization_id]
        return self.secret


def parse_cidrs(text: str) -> tuple[IPNetwork, ...]:
    """Comma-separated CIDRs (host bits allowed: "127.0.0.1/8" means 127.0.0.0/8)."""
    networks: list[IPNetwork] = []
    for part in text.split(","):
        part = part.strip()
        if part:
            try:
                networks.append(ip_network(part, strict=False))
            except ValueError as exc:
                raise ValueError(f"not a CIDR: {part!r}") from exc
    return tuple(networks)


def _check_secret(name: str, secret: str, org: str | None = None) -> None:
    try:
        Webhook(secret)
    except Exception:
        rule = (
            "a Standard Webhooks secret"
            if org is None
            else "org_id:secret pairs of Standard Webhooks secrets"
        )
        whose = "a value" if org is None else f"one for organization {org!r}"
        raise ConfigError(
            f"{name} must be {rule} (whsec_ + base64), got {whose} of {len(secret)} characters (not shown)"
        ) from None


def _org_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    secrets: dict[str, str] = {}
    for number, entry in enumerate(env_list(environ, SECRETS_ENV), 1):
        # rpartition: base64 never contains ':', organization ids might.
        org, sep, secret = entry.rpartition(":")
        org, secret = org.strip(), secret.strip()
        if not sep or not org or not secret:
            raise ConfigError(
                f"{SECRETS_ENV} must be org_id:whsec_… pairs, got entry {number}, which is not one"
                " (not shown: it may hold a secret)"
            )
        if org in secrets:
            raise ConfigError(f"{SECRETS_ENV} must be one secret per organization, got {org!r} twice")
        secrets[org] = secret
    return secrets


def _cidrs(environ: Mapping[str, str]) -> tuple[IPNetwork, ...]:
    text = raw(environ, ALLOW_CIDRS_ENV) or ""
    try:
        return parse_cidrs(text)
    except ValueError as exc:
        raise invalid(ALLOW_CIDRS_ENV, f"comma-separated CIDRs ({exc})", text) from None
