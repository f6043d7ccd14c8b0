"""A console visitor: an httpx client that signed in through the form and keeps the session cookie."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html.parser import HTMLParser

import httpx

from tests.streams.api.harness import RunningApi

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@asynccontextmanager
async def signed_in(api: RunningApi, tenant: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        response = await client.post("/ui/signin", data={"token": api.tenants[tenant].token})
        assert response.status_code == 303 and response.headers["location"] == "/ui/jobs", response.text
        yield client


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, "no CSRF field on the page"
    return html.unescape(found.group(1))


class _Tables(HTMLParser):
    """Cell texts of every `<table class=…>` row, and every link's (rel, href), as a reader sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.links: list[tuple[str, str]] = []
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "table":
            self._table = named.get("class") or ""
            self.tables.setdefault(self._table, [])
        elif tag == "tr" and self._table is not None and named.get("class") != "empty":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "a":
            self.links.append((named.get("rel") or "", named.get("href") or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._table is not None and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def read(page: str) -> _Tables:
    parser = _Tables()
    parser.feed(page)
    return parser


def rows(page: str, table: str) -> list[list[str]]:
    """The body rows of `<table class="{table}">`: its first row (the heading) and an "empty" row left out."""
    return read(page).tables[table][1:]


def link(page: str, rel: str) -> str | None:
    found = [href for kind, href in read(page).links if kind == rel]
    return found[0] if found else None
