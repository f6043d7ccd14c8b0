"""Bearer tokens -> organization: the API's only notion of who is calling."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

TOKENS_ENV = "JOBSTREAM_API_TOKENS"
TOKENS_FILE_ENV = "JOBSTREAM_API_TOKENS_FILE"


class TokenTable:
    """Tokens kept as SHA-256 digests, compared in constant time against every entry.

    Hashing first makes every comparison the same length, so neither a token's length nor which
    entry matched shows in the timing; the loop never stops early for the same reason.
    """

    def __init__(self, pairs: Mapping[str, str]) -> None:
        self._entries = [(_digest(token), organization) for token, organization in pairs.items()]

    def __len__(self) -> int:
        return len(self._entries)

    def organization_of(self, token: str) -> str | None:
        presented = _digest(token)
        found: str | None = None
        for digest, organization in self._entries:
            if hmac.compare_digest(presented, digest):
                found = organization
        return found

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TokenTable:
        """`JOBSTREAM_API_TOKENS` (comma-separated) plus `JOBSTREAM_API_TOKENS_FILE` (one per line)."""
        env = os.environ if environ is None else environ
        pairs = dict(parse_pairs(env.get(TOKENS_ENV, "").split(","), TOKENS_ENV))
        path = env.get(TOKENS_FILE_ENV)
        if path:
            lines = Path(path).read_text().splitlines()
            pairs.update(parse_pairs(lines, path))
        return cls(pairs)


def parse_pairs(entries: Iterable[str], source: str) -> list[tuple[str, str]]:
    """`token:organization_id` entries; blanks and `#` comments skipped. Errors never echo a token."""
    pairs = []
    for number, entry in enumerate(entries, 1):
        entry = entry.strip()
        if not entry or entry.startswith("#"):
            continue
        token, sep, organization = entry.partition(":")
        if not sep or not token.strip() or not organization.strip():
            raise ValueError(f"entry {number} of {source} is not token:organization_id")
        pairs.append((token.strip(), organization.strip()))
    return pairs


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


_bearer = HTTPBearer(auto_error=False, description="A token listed in JOBSTREAM_API_TOKENS.")


def organization(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """FastAPI dependency: the caller's organization id; 401 for a missing or unknown token."""
    tokens: TokenTable = request.app.state.tokens
    found = tokens.organization_of(credentials.credentials) if credentials is not None else None
    if found is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or unknown bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return found


Organization = Annotated[str, Depends(organization)]
