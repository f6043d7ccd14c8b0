"""Pydantic validation errors as one line a person reads: rejections, dead letters and the CLI agree."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any

from pydantic import ValidationError


def describe_errors(
    errors: ValidationError | Iterable[Mapping[str, Any]], whole: str, skip: int = 0, limit: int | None = 5
) -> str:
    """`where: what; …` for the first `limit` errors (None: all).

    `errors` is a ValidationError or its `errors()` as data (FastAPI's 422 `detail`). `skip` drops
    leading `loc` parts that name no field (a tagged union's tag, FastAPI's `body`/`query`); an error
    about the value as a whole is said of `whole`.
    """
    if isinstance(errors, ValidationError):
        errors = errors.errors(include_url=False)
    parts = []
    for error in islice(errors, limit):
        where = ".".join(str(part) for part in error.get("loc", ())[skip:]) or whole
        parts.append(f"{where}: {error.get('msg')}")
    return "; ".join(parts)
