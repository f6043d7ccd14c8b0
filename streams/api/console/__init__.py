"""The web console at `/ui` (docs/api.md "Console"): server-rendered pages over the API's own queries."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response, status
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from streams.api.console import batches, jobs, live, session
from streams.api.console.render import STATIC, refusal


def install(app: FastAPI) -> None:
    """Routes, static files, the session store and the redirect to sign in."""
    app.state.console_sessions = session.SessionStore()
    app.state.console_streams = []
    for module in (session, jobs, batches, live):
        app.include_router(module.router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="console-static")

    async def sign_in_first(request: Request, exc: Exception) -> Response:
        return RedirectResponse("/ui/signin", status.HTTP_303_SEE_OTHER)

    async def refused(request: Request, exc: Exception) -> Response:
        heading = "This form did not come from your console session: reload the page and try again"
        return refusal(request, None, heading, status.HTTP_403_FORBIDDEN)

    app.add_exception_handler(session.SignInRequired, sign_in_first)
    app.add_exception_handler(session.BadForm, refused)
