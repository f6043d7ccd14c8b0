"""The console in a real browser (headless Chromium, Debian's package, driven by Selenium): sign in, list,
filter, page, open a job's timeline, watch an event arrive live, and see nothing of another organization.
Screenshots of each page go to the test logs (`<home>/test-logs/console-*.png`)."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.streams.api.harness import RunningApi, job_when, post
from tests.support.pipeline import Pipeline, unique

pytestmark = pytest.mark.e2e
T = TypeVar("T")
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def chromium() -> Iterator[WebDriver]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        message = "needs Debian's chromium and chromium-driver (`make test` installs them as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_argument("--window-size=1280,1000")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


async def _in_browser(action: Callable[[], T]) -> T:
    """Selenium blocks; the API under test runs on this event loop, so the browser waits in a thread."""
    return await asyncio.to_thread(action)


def _texts(driver: WebDriver, selector: str) -> list[str]:
    return [element.text for element in driver.find_elements(By.CSS_SELECTOR, selector)]


async def test_a_user_finds_jobs_their_timeline_and_live_events(
    chromium: WebDriver, api: RunningApi, pipeline: Pipeline, logs_dir: Path
) -> None:
    tenant, url = api.tenants["console-browser"], api.url
    ids = [unique("browse") for _ in range(3)]
    foreign = unique("browse-foreign")
    async with api.client("console-browser") as own, api.client("console-other") as other:
        for job_id in ids:  # each created before the next is sent: on other partitions, a later
            # create can be fetched, and so created, first
            await post(
                own, type="create", job_id=job_id, agent_id="browser-agent", metadata={"k": "<b>v</b>"}
            )
            await job_when(pipeline, own, job_id, 1)
        await post(own, type="transition", job_id=ids[0], status="running")
        await post(other, type="create", job_id=foreign, agent_id="browser-agent")
        await job_when(pipeline, own, ids[0], 2)

        def sign_in_and_list() -> list[str]:
            chromium.get(f"{url}/ui/jobs")  # not signed in: the sign-in page
            chromium.find_element(By.NAME, "token").send_keys(tenant.token)
            chromium.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
            WebDriverWait(chromium, 15).until(lambda d: d.current_url.endswith("/ui/jobs"))
            chromium.save_screenshot(str(logs_dir / "console-jobs.png"))
            return _texts(chromium, "table.jobs td a")

        listed = await _in_browser(sign_in_and_list)
        assert set(ids) <= set(listed) and foreign not in listed

        def filter_running() -> list[str]:
            chromium.get(f"{url}/ui/jobs?status=running&agent_id=browser-agent")
            return _texts(chromium, "table.jobs td a")

        assert [job for job in await _in_browser(filter_running) if job in ids] == [ids[0]]

        def page_by_two() -> tuple[list[str], list[str]]:
            chromium.get(f"{url}/ui/jobs?agent_id=browser-agent&limit=2")
            first = _texts(chromium, "table.jobs td a")
            chromium.find_element(By.CSS_SELECTOR, "a[rel=next]").click()
            WebDriverWait(chromium, 15).until(lambda d: "after=" in d.current_url)
            return first, _texts(chromium, "table.jobs td a")

        first, second = await _in_browser(page_by_two)
        assert first + second == ids  # oldest first, two a page, nothing of the other organization

        def open_timeline() -> tuple[list[str], str]:
            chromium.get(f"{url}/ui/jobs")
            chromium.find_element(By.LINK_TEXT, ids[0]).click()
            WebDriverWait(chromium, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, "table.events"))
            chromium.save_screenshot(str(logs_dir / "console-job.png"))
            return _texts(chromium, "table.events tbody tr"), chromium.page_source

        timeline, source = await _in_browser(open_timeline)
        assert len(timeline) == 2 and "job.created" in timeline[0] and "job.status_changed" in timeline[1]
        assert "<b>v</b>" not in source  # the metadata is shown as text, not markup

        def open_live() -> None:
            chromium.get(f"{url}/ui/live")
            state = chromium.find_element(By.ID, "live-state")
            WebDriverWait(chromium, 20).until(lambda d: state.text == "connected")

        await _in_browser(open_live)
        await asyncio.sleep(1)  # the stream positions itself at the end of the topic first (": ready")
        await post(other, type="transition", job_id=foreign, status="running")
        await post(own, type="transition", job_id=ids[1], status="cancelled")

        def live_rows() -> list[str]:
            WebDriverWait(chromium, 30).until(lambda d: ids[1] in d.find_element(By.ID, "live-events").text)
            chromium.save_screenshot(str(logs_dir / "console-live.png"))
            return _texts(chromium, "#live-events tr")

        rows = await _in_browser(live_rows)
    assert any(ids[1] in row and "job.status_changed" in row for row in rows)
    assert not any(foreign in row for row in rows)
