"""Console sign-in and sign-out: the API's bearer tokens become an HttpOnly, SameSite=Strict session."""

from __future__ import annotations

import httpx
import pytest

from streams.api.console import session
from tests.streams.api.console.browsing import csrf_of, signed_in
from tests.streams.api.harness import RunningApi


async def test_a_page_without_a_session_sends_the_visitor_to_sign_in(api: RunningApi) -> None:
    async with httpx.AsyncClient(base_url=api.url) as client:
        for path in ("/ui", "/ui/jobs", "/ui/jobs/x", "/ui/batches/x", "/ui/live", "/ui/live/events"):
            response = await client.get(path, follow_redirects=True)
            assert response.url.path == "/ui/signin", path
            assert 'name="token"' in response.text and 'type="password"' in response.text


async def test_an_unknown_token_is_refused_and_gets_no_cookie(api: RunningApi) -> None:
    async with httpx.AsyncClient(base_url=api.url) as client:
        response = await client.post("/ui/signin", data={"token": "not-a-token"})
        assert response.status_code == 401 and "Unknown token." in response.text
        assert "set-cookie" not in response.headers
        assert (await client.get("/ui/jobs")).headers["location"] == "/ui/signin"


async def test_the_cookie_is_opaque_httponly_and_strict_and_the_token_never_shows(api: RunningApi) -> None:
    token = api.tenants["console"].token
    async with httpx.AsyncClient(base_url=api.url) as client:
        response = await client.post("/ui/signin", data={"token": token})
        assert response.status_code == 303
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("jobstream_session=")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
        assert token not in cookie and api.tenants["console"].organization_id not in cookie
        listing = await client.get("/ui/jobs")
        assert listing.status_code == 200
        assert api.tenants["console"].organization_id in listing.text
        assert token not in listing.text and token not in str(listing.url)


async def test_the_api_does_not_take_the_console_cookie_for_a_token(api: RunningApi) -> None:
    async with signed_in(api, "console") as client:
        assert (await client.get("/jobs")).status_code == 401


async def test_sign_out_needs_the_csrf_token_then_ends_the_session(api: RunningApi) -> None:
    async with signed_in(api, "console") as client:
        page = await client.get("/ui/jobs")
        forged = await client.post("/ui/signout", data={"csrf": "guess"})
        assert forged.status_code == 403
        assert (await client.get("/ui/jobs")).status_code == 200  # still signed in
        response = await client.post("/ui/signout", data={"csrf": csrf_of(page.text)})
        assert response.status_code == 303 and response.headers["location"] == "/ui/signin"
        assert (await client.get("/ui/jobs")).headers["location"] == "/ui/signin"


async def test_a_session_is_not_another_sessions_csrf(api: RunningApi) -> None:
    async with signed_in(api, "console") as first, signed_in(api, "console") as second:
        theirs = csrf_of((await second.get("/ui/jobs")).text)
        assert (await first.post("/ui/signout", data={"csrf": theirs})).status_code == 403


async def test_a_form_posted_from_another_site_is_refused(api: RunningApi) -> None:
    token = api.tenants["console"].token
    async with httpx.AsyncClient(base_url=api.url) as client:
        foreign = await client.post(
            "/ui/signin", data={"token": token}, headers={"Origin": "https://evil.test"}
        )
        assert foreign.status_code == 403 and "set-cookie" not in foreign.headers
        same = await client.post("/ui/signin", data={"token": token}, headers={"Origin": api.url})
        assert same.status_code == 303


def test_a_session_ends_when_it_expires_or_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    store = session.SessionStore()
    now = [1000.0]
    monkeypatch.setattr(session.time, "monotonic", lambda: now[0])
    kept, closed = store.open("org-a"), store.open("org-a")
    assert kept != closed and store.find(kept) is not None and store.find(kept) is not store.find(closed)
    store.close(closed)
    assert store.find(closed) is None and store.find("made-up") is None and store.find(None) is None
    now[0] += session.SESSION_TTL_S
    assert store.find(kept) is None
