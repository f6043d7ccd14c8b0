"""How the CLI words the API's failures; FastAPI's validation errors read as rejections do."""

from __future__ import annotations

import httpx

from streams.cli.api_client import _error


def test_fastapi_validation_errors_name_each_field() -> None:
    detail = [
        {"type": "int_parsing", "loc": ["query", "limit"], "msg": "Input should be a valid integer"},
        {"type": "missing", "loc": ["body"], "msg": "Field required"},
    ]
    error = _error(httpx.Response(422, json={"detail": detail}))
    assert error.message == (
        "the API rejected the request: limit: Input should be a valid integer; request: Field required"
    )


def test_the_apis_own_problem_is_passed_on() -> None:
    error = _error(httpx.Response(422, json={"detail": {"code": "invalid_cursor", "message": "unknown"}}))
    assert error.message == "the API rejected the request: unknown"
