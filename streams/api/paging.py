"""The paging parameters every listing takes (`before`, `after`, `limit`, `ascending`), and its 422."""

# No `from __future__ import annotations` here: `paging` builds each listing's parameters in a closure,
# and FastAPI reads their annotations as objects (a string would name the closure's locals in vain).
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import HTTPException, Query, status

from storage.queries.keyset import DEFAULT_LIMIT, MAX_LIMIT, CursorError, PageRequest
from streams.api.models import Problem

CURSOR_PROBLEM: dict[int | str, dict[str, Any]] = {
    422: {
        "model": Problem,
        "description": "A parameter out of bounds, an unknown cursor, or before not newer than after.",
    }
}


def paging(noun: str, order: str, max_cursor_length: int) -> Callable[..., PageRequest]:
    """A FastAPI dependency: the page asked for; `noun` says what a cursor names ("A job id")."""

    def page_request(
        before: Annotated[
            str | None,
            Query(max_length=max_cursor_length, description=f"{noun}: only those before it in {order}."),
        ] = None,
        after: Annotated[
            str | None,
            Query(max_length=max_cursor_length, description=f"{noun}: only those after it in {order}."),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        ascending: Annotated[bool, Query(description=f"{order} ascending, else descending.")] = True,
    ) -> PageRequest:
        return PageRequest(before=before, after=after, limit=limit, ascending=ascending)

    return page_request


@contextmanager
def cursors_checked() -> Iterator[None]:
    """A cursor the listing does not hold is the caller's mistake: 422 `invalid_cursor` with the reason."""
    try:
        yield
    except CursorError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, {"code": "invalid_cursor", "message": str(exc)}
        ) from exc
