"""Console sign-in: a bearer token from a form becomes an opaque session cookie; CSRF tokens per session."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import RedirectResponse

from streams.api.auth import TokenTable
from streams.api.console.render import page

COOKIE = "jobstream_session"
SESSION_TTL_S = 8 * 3600
MAX_SESSIONS = 10_000
MAX_FORM_BYTES = 16 * 1024

router = APIRouter(prefix="/ui")


class SignInRequired(Exception):
    """Raised by `signed_in`; the console's handler answers with a redirect to the sign-in form."""


class BadForm(Exception):
    """A console form without a valid CSRF token (or too large to be one of ours): 403."""


@dataclass(frozen=True)
class Session:
    organization: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    expires_at: float = field(default_factory=lambda: time.monotonic() + SESSION_TTL_S)


class SessionStore:
    """Sessions in this process's memory, keyed by a random id: the cookie names one and holds nothing
    else, so neither the token nor the organization ever leaves the server. A restart signs everyone out."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}

    def open(self, organization: str) -> str:
        now = time.monotonic()
        self._sessions = {k: s for k, s in self._sessions.items() if s.expires_at > now}
        if len(self._sessions) >= MAX_SESSIONS:  # oldest first: dicts keep insertion order
            self._sessions.pop(next(iter(self._sessions)))
        session_id = secrets.token_urlsafe(32)
        self._sessions[session_id] = Session(organization)
        return session_id

    def find(self, session_id: str | None) -> Session | None:
        session = self._sessions.get(session_id) if session_id else None
        if session is None or session.expires_at <= time.monotonic():
            return None
        return session

    def close(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(session_id, None)


def signed_in(request: Request) -> Session:
    """FastAPI dependency for every console page: the caller's session, else a redirect to sign in."""
    store: SessionStore = request.app.state.console_sessions
    session = store.find(request.cookies.get(COOKIE))
    if session is None:
        raise SignInRequired
    return session


SignedIn = Annotated[Session, Depends(signed_in)]


async def form(request: Request) -> dict[str, str]:
    """An urlencoded form body (the console's only kind), first value of each field.

    A form another site posts (its browser says so in `Origin`) is refused before anything is read: the
    CSRF token guards actions, and this also keeps a foreign page from signing a visitor in as someone
    else. Only the host is compared, which a TLS-terminating proxy leaves as it was.
    """
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise BadForm
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise BadForm
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


async def checked_form(request: Request, session: SignedIn) -> dict[str, str]:
    """FastAPI dependency for a console action: the form, once its CSRF token matches the session's."""
    fields = await form(request)
    if not hmac.compare_digest(fields.get("csrf", "").encode(), session.csrf.encode()):
        raise BadForm
    return fields


CheckedForm = Annotated[dict[str, str], Depends(checked_form)]


@router.get("/signin", include_in_schema=False)
async def signin_form(request: Request) -> Response:
    return page(request, "signin.html", {"failed": False})


@router.post("/signin", include_in_schema=False)
async def signin(request: Request) -> Response:
    tokens: TokenTable = request.app.state.tokens
    organization = tokens.organization_of((await form(request)).get("token", "").strip())
    if organization is None:
        return page(request, "signin.html", {"failed": True}, status.HTTP_401_UNAUTHORIZED)
    store: SessionStore = request.app.state.console_sessions
    response = RedirectResponse("/ui/jobs", status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        COOKIE,
        store.open(organization),
        max_age=SESSION_TTL_S,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/signout", include_in_schema=False)
async def signout(request: Request, _: CheckedForm) -> Response:
    store: SessionStore = request.app.state.console_sessions
    store.close(request.cookies.get(COOKIE))
    response = RedirectResponse("/ui/signin", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
    return response
