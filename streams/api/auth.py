"""Bearer tokens -> organization: the API's only notion of who is calling."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer


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
