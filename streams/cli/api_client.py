"""The CLI's HTTP client for the query API, turning each failure into a next step for the user."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from schemas.errors import describe_errors
from streams.cli.output import fail
from streams.settings import Settings

T = TypeVar("T")

START_API = "is the API running? start it with `jobstream api` (or set JOBSTREAM_API_URL)"
TOKEN_HINT = "set JOBSTREAM_API_TOKEN to a token listed in the API's JOBSTREAM_API_TOKENS"
NOT_FOUND_HINT = "check the job id (`jobstream jobs list`); other organizations' jobs are hidden"


class ApiError(Exception):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def default_url() -> str:
    return f"http://127.0.0.1:{Settings.from_env().api_port}"


class ApiClient:
    """Synchronous on purpose: each CLI command makes a few calls, one after another."""

    def __init__(self, url: str, token: str | None, timeout_s: float = 15.0) -> None:
        if not token:
            raise ApiError("no API token", TOKEN_HINT)
        self.url = url
        self._http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s
        )

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, params)

    def request(self, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        """One call; its JSON answer, or an ApiError saying what went wrong and what to do."""
        try:
            response = self._http.request(method, path, params=_present(params or {}))
        except httpx.TransportError as exc:
            raise ApiError(f"cannot reach the API at {self.url} ({exc})", START_API) from exc
        if response.status_code >= 400:
            raise _error(response)
        return response.json()


def call(action: Callable[[], T]) -> T:
    """Run one API interaction; an ApiError becomes `error:` + `hint:` and exit status 1."""
    try:
        return action()
    except ApiError as exc:
        fail(exc.message, exc.hint)


def _error(response: httpx.Response) -> ApiError:
    detail = _detail(response)
    if response.status_code == 401:
        return ApiError("the API refused the token", TOKEN_HINT)
    if response.status_code == 404:
        return ApiError(detail, NOT_FOUND_HINT)
    if response.status_code == 422:
        return ApiError(f"the API rejected the request: {detail}")
    return ApiError(f"the API answered {response.status_code}: {detail}", "see the API's log")


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return response.text[:200]
    if isinstance(detail, dict):
        return str(detail.get("message", detail))
    if isinstance(detail, list):  # FastAPI's own validation errors
        return describe_errors(detail, "request", skip=1, limit=None)  # loc starts at body/query/path
    return str(detail)


def _present(params: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in params.items() if value not in (None, [], ())}
