"""Callback delivery settings, read once from the JOBSTREAM_CALLBACK_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network
from types import MappingProxyType

from standardwebhooks import Webhook

from streams.callbacks.exceptions import CallbackConfigError
from streams.callbacks.ssrf import parse_cidrs
from streams.env import env_float, env_int

SECRET_ENV = "JOBSTREAM_CALLBACK_SECRET"
SECRETS_ENV = "JOBSTREAM_CALLBACK_SECRETS"
ALLOW_CIDRS_ENV = "JOBSTREAM_CALLBACK_ALLOW_CIDRS"
TIMEOUT_ENV = "JOBSTREAM_CALLBACK_TIMEOUT_S"
MAX_ATTEMPTS_ENV = "JOBSTREAM_CALLBACK_MAX_ATTEMPTS"
BACKOFF_BASE_ENV = "JOBSTREAM_CALLBACK_BACKOFF_BASE_S"
BACKOFF_CAP_ENV = "JOBSTREAM_CALLBACK_BACKOFF_CAP_S"


@dataclass(frozen=True)
class CallbackSettings:
    """How callbacks are signed, where they may go, and how hard delivery tries.

    Secrets are kept out of repr so settings can be logged safely.
    """

    secret: str | None = field(default=None, repr=False)
    org_secrets: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    allow_cidrs: tuple[IPv4Network | IPv6Network, ...] = ()
    timeout_s: float = 10.0
    max_attempts: int = 8
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 300.0

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise CallbackConfigError(f"{TIMEOUT_ENV} must be > 0, got {self.timeout_s}")
        if self.max_attempts < 1:
            raise CallbackConfigError(f"{MAX_ATTEMPTS_ENV} must be >= 1, got {self.max_attempts}")
        if not self.backoff_base_s >= 0:
            raise CallbackConfigError(f"{BACKOFF_BASE_ENV} must be >= 0, got {self.backoff_base_s}")
        if not self.backoff_cap_s >= 0:
            raise CallbackConfigError(f"{BACKOFF_CAP_ENV} must be >= 0, got {self.backoff_cap_s}")
        if self.secret is not None:
            _check_secret(self.secret, SECRET_ENV)
        for org, secret in self.org_secrets.items():
            _check_secret(secret, f"{SECRETS_ENV} (organization {org!r})")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> CallbackSettings:
        return cls(
            secret=environ.get(SECRET_ENV, "").strip() or None,
            org_secrets=MappingProxyType(_org_secrets(environ.get(SECRETS_ENV, ""))),
            allow_cidrs=_cidrs(environ.get(ALLOW_CIDRS_ENV, "")),
            timeout_s=env_float(environ, TIMEOUT_ENV, 10.0, CallbackConfigError),
            max_attempts=env_int(environ, MAX_ATTEMPTS_ENV, 8, CallbackConfigError),
            backoff_base_s=env_float(environ, BACKOFF_BASE_ENV, 1.0, CallbackConfigError),
            backoff_cap_s=env_float(environ, BACKOFF_CAP_ENV, 300.0, CallbackConfigError),
        )

    def secret_for(self, organization_id: str | None) -> str | None:
        """The organization's own secret if it has one, else the global one (None: unsigned)."""
        if organization_id is not None and organization_id in self.org_secrets:
            return self.org_secrets[organization_id]
        return self.secret


def _check_secret(secret: str, source: str) -> None:
    # Fail at startup rather than on the first terminal job; never echo the secret itself.
    try:
        Webhook(secret)
    except Exception as exc:
        raise CallbackConfigError(f"{source} is not a valid Standard Webhooks secret (whsec_…)") from exc


def _org_secrets(raw: str) -> dict[str, str]:
    secrets: dict[str, str] = {}
    for entry in raw.split(","):
        entry = entry.strip()
        if not entry:
            continue
        # rpartition: base64 never contains ':', organization ids might.
        org, sep, secret = entry.rpartition(":")
        org, secret = org.strip(), secret.strip()
        if not sep or not org or not secret:
            raise CallbackConfigError(f"{SECRETS_ENV} entries must look like org_id:whsec_…")
        if org in secrets:
            raise CallbackConfigError(f"{SECRETS_ENV} lists organization {org!r} twice")
        secrets[org] = secret
    return secrets


def _cidrs(raw: str) -> tuple[IPv4Network | IPv6Network, ...]:
    try:
        return parse_cidrs(raw)
    except ValueError as exc:
        raise CallbackConfigError(f"{ALLOW_CIDRS_ENV}: {exc}") from exc
