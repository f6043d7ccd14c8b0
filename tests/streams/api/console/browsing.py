"""A console visitor: an httpx client that signed in through the form and keeps the session cookie."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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
