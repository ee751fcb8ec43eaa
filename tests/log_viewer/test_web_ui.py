"""The Log Viewer web UI in headless chromium against a real service."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.helpers import ServiceProcess, wait_until
from tests.log_viewer.dockerlog import DockerLog

if TYPE_CHECKING:
    from tests.browser import PageEvents

pytest_plugins = ["tests.browser"]

KEY = "ui-key"
IMG = "<img src=x onerror=alert(1)>"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ServiceProcess, DockerLog, DockerLog]]:
    root = tmp_path / "containers"
    web, worker = DockerLog(root, "a" * 64, "web"), DockerLog(root, "b" * 64, "worker")
    web.lines("GET /health 200", f"payment failed for {IMG}", "GET /cart 200")
    web.lines('{"level": "warn", "msg": "disk 91% full", "disk": "/data"}')
    worker.lines("ERROR worker: job 7 failed", stream="stderr")
    env = {
        "API_KEY": KEY,
        "DATABASE_PATH": str(tmp_path / "logs.db"),
        "LOG_SOURCES": str(root),
        "POLL_INTERVAL": "1",
        "RATE_LIMIT": "0",
    }
    with ServiceProcess("log_viewer", env) as svc:
        wait_until(
            lambda: (
                httpx.get(f"{svc.url}/api/logs", headers={"X-API-Key": KEY}).json()["total"] == 5
            ),
            timeout=15,
            what="the sample lines ingested",
        )
        yield svc, web, worker


def test_search_filter_histogram_and_live_tail(
    served: tuple[ServiceProcess, DockerLog, DockerLog], page: Page, page_events: PageEvents
) -> None:
    svc, web, _ = served
    page.goto(svc.url + "/")
    page.fill("#api-key", KEY)
    page.click("#key-form button[type=submit]")
    rows = page.locator(".log-row")
    expect(rows).to_have_count(5)
    expect(page.locator("#summary")).to_have_text("1–5 of 5 entries")
    # HTML in a log line is text.
    expect(page.locator(".log-message", has_text="payment failed")).to_have_text(
        f"payment failed for {IMG}"
    )
    assert page.locator("#logs img").count() == 0
    # A JSON line is shown as its fields.
    fields = page.locator(".log-row[data-level='WARNING'] dl.fields")
    expect(fields.locator("dt")).to_have_text(["level", "msg", "disk"])
    expect(fields.locator("dd").nth(1)).to_have_text("disk 91% full")
    # The histogram shows the volume, errors in their own colour.
    expect(page.locator("#histogram .hist-bar").first).to_be_attached()
    assert page.locator("#histogram .seg-error").count() >= 1

    # Search (FTS5) and the level filter, kept in the URL.
    page.fill("#f-search", "payment OR job")
    page.press("#f-search", "Enter")
    expect(rows).to_have_count(2)
    page.select_option("#f-level", "ERROR")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".log-container")).to_have_text("worker")
    expect(page).to_have_url(re.compile(r"q=payment\+OR\+job.*level=ERROR|level=ERROR.*q="))
    # Broken search syntax: the API's reason next to the field, no results.
    page.fill("#f-search", '"unclosed')
    page.press("#f-search", "Enter")
    expect(page.locator("#search-error")).to_contain_text("FTS5")
    page.fill("#f-search", "")
    page.press("#f-search", "Enter")
    page.select_option("#f-level", "")
    expect(rows).to_have_count(5)

    # Live tail: a line appended to the file appears without a reload.
    page.click("#live")
    expect(page.locator("#live")).to_have_attribute("aria-pressed", "true")
    wait_until(
        lambda: httpx.get(f"{svc.url}/health").json()["live_tails"] == 1,
        timeout=10,
        what="the page's live tail",
    )
    web.lines("fresh line from the web app")
    expect(page.locator(".log-row.is-new .log-message")).to_have_text(
        "fresh line from the web app", timeout=10_000
    )
    page.click("#live")
    expect(page.locator("#live")).to_have_attribute("aria-pressed", "false")
    assert page_events.dialogs == []


def test_phone_layout_fits(
    served: tuple[ServiceProcess, DockerLog, DockerLog], phone_page: Page
) -> None:
    """On a phone the filters wrap and a long line wraps: nothing scrolls sideways."""
    svc, web, _ = served
    web.lines("x" * 400 + " a line far longer than any phone is wide")
    wait_until(
        lambda: httpx.get(f"{svc.url}/api/logs", headers={"X-API-Key": KEY}).json()["total"] == 6,
        timeout=15,
        what="the long line ingested",
    )
    phone_page.goto(svc.url + "/")
    phone_page.fill("#api-key", KEY)
    phone_page.click("#key-form button[type=submit]")
    expect(phone_page.locator(".log-row")).to_have_count(6)
    for control in ("#f-search", "#f-container", "#f-level", "#live"):
        expect(phone_page.locator(control)).to_be_in_viewport()
    width = phone_page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390
