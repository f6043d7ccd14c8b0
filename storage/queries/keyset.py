"""Keyset pages, the one paging of every listing (docs/contract.md §9): cursors are ids of rows in it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, and_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

MAX_LIMIT = 1000
DEFAULT_LIMIT = 50


class CursorError(ValueError):
    """A `before`/`after` cursor that names no visible row, or a window that cannot hold any row."""


@dataclass(frozen=True)
class PageRequest:
    before: str | None = None
    after: str | None = None
    limit: int = DEFAULT_LIMIT
    ascending: bool = True


@dataclass(frozen=True)
class Keyset:
    """A listing's order and how a cursor names a row in it.

    `order` must be unique within the scope the listing is read in (it ends with an id), so that
    "after this row" is exact however many rows share a timestamp; `cursor` is the id callers pass.
    """

    cursor: ColumnElement[str]
    order: tuple[ColumnElement[Any], ...]
    unknown: str  # completes "unknown cursor 'x': …" for this listing


@dataclass(frozen=True)
class Page:
    rows: list[RowMapping]
    next_cursor: str | None = None


async def read_page(
    connection: AsyncConnection,
    keyset: Keyset,
    columns: Sequence[Any],
    scope: Sequence[ColumnElement[bool]],
    filters: Sequence[ColumnElement[bool]],
    page: PageRequest,
) -> Page:
    """One page of `columns` in the keyset's order; `next_cursor` is the last row's id when more follow.

    Cursors are resolved within `scope` only (not the filters), so a row outside it (another
    organization's job, another job's event) is as unknown as a made-up id and leaks nothing.
    """
    if not 1 <= page.limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    keys = await _cursor_keys(connection, keyset, scope, [page.before, page.after])
    position = tuple_(*keyset.order)
    bounds: list[ColumnElement[bool]] = []
    if page.before is not None:
        bounds.append(position < tuple_(*keys[page.before]))
    if page.after is not None:
        bounds.append(position > tuple_(*keys[page.after]))
    if page.before is not None and page.after is not None and keys[page.before] <= keys[page.after]:
        raise CursorError(f"before {page.before!r} is not newer than after {page.after!r}")
    order = [column.asc() if page.ascending else column.desc() for column in keyset.order]
    query = (
        select(*columns)
        .where(and_(*scope, *filters, *bounds))
        .order_by(*order)
        .limit(page.limit + 1)  # one extra row says whether a next page exists
    )
    rows = list((await connection.execute(query)).mappings())
    shown = rows[: page.limit]
    return Page(shown, shown[-1][keyset.cursor] if len(rows) > page.limit else None)


async def _cursor_keys(
    connection: AsyncConnection,
    keyset: Keyset,
    scope: Sequence[ColumnElement[bool]],
    cursors: list[str | None],
) -> dict[str, tuple[Any, ...]]:
    named = [c for c in cursors if c is not None]
    if not named:
        return {}
    # Labelled, so that a cursor column that is also in the order is selected twice, not merged.
    keys = [column.label(f"key_{n}") for n, column in enumerate(keyset.order)]
    query = select(keyset.cursor.label("cursor"), *keys).where(keyset.cursor.in_(named), *scope)
    found = {row[0]: tuple(row[1:]) for row in await connection.execute(query)}
    for cursor in named:
        if cursor not in found:
            raise CursorError(f"unknown cursor {cursor!r}: {keyset.unknown}")
    return found
