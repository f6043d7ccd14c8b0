"""The console's templates (autoescaped Jinja2) and the headers every console page carries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.templating import Jinja2Templates

HERE = Path(__file__).parent
STATIC = HERE / "static"

# Scripts and styles only from our own files, no inline code, no framing: injected markup can run nothing.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def job_path(job_id: str) -> str:
    """A job page's path: the id is one quoted segment (the route reads the rest of the path as the id)."""
    return f"/ui/jobs/{quote(job_id, safe='')}"


def batch_path(batch_id: str) -> str:
    return f"/ui/batches/{quote(batch_id, safe='')}"


_environment = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined
)
_environment.globals.update(job_path=job_path, batch_path=batch_path)
# Plain JSON text, escaped by the autoescape like any string (Jinja's `tojson` writes \u003c for a reader).
_environment.filters["json"] = lambda value, indent=None: json.dumps(value, indent=indent, ensure_ascii=False)
templates = Jinja2Templates(env=_environment)


def page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    """A template rendered for this request, with the console's security headers."""
    context.setdefault("session", None)
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers.update(HEADERS)
    return response


def refusal(request: Request, session: object, heading: str, status_code: int) -> Response:
    """A page that only says what was refused (a job not visible, a form not ours), with a way back."""
    return page(request, "refused.html", {"session": session, "heading": heading}, status_code)
