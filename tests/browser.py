"""Playwright on Debian's chromium, for every UI test in the repo (and scripts/screenshots.py).

Use from a test module (a module-level `pytest_plugins` registers the fixtures
once, whichever module asks first):

    pytest_plugins = ["tests.browser"]

    def test_something(page: Page) -> None: ...

`browser` is one headless chromium per test session; `page` is a fresh
context (own localStorage, 1280x800, UTC, en-US) per test whose uncaught
JavaScript errors fail the test, `phone_page` the same at 390x844;
`page_events` records dialogs (alert/confirm, auto-dismissed), uncaught errors
and console errors of that page. Import only types from here in test modules
(under TYPE_CHECKING): importing it at run time before pytest registers it as
a plugin costs its assertion rewriting. Playwright's own browser downloads are
never used: the house browser is /usr/bin/chromium (MONLIGHT_CHROMIUM overrides).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Dialog,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

CHROMIUM = Path(os.environ.get("MONLIGHT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
#: Default wait for any expectation or action: generous for a 2-core CI machine.
TIMEOUT_MS = 10_000
expect.set_options(timeout=TIMEOUT_MS)


class ChromiumMissing(RuntimeError):
    pass


def chromium_problem() -> str | None:
    """Why the house browser cannot be used, with the fix; None when it is there."""
    if CHROMIUM.exists():
        return None
    return (
        f"UI tests need Debian's chromium at {CHROMIUM}, which is missing: "
        "run `bash scripts/ensure-system-deps.sh chromium` "
        "(apt-get install chromium fonts-dejavu-core); never `playwright install`."
    )


def launch_chromium(playwright: Playwright) -> Browser:
    """Headless Debian chromium, or a clear error saying how to install it."""
    problem = chromium_problem()
    if problem:
        raise ChromiumMissing(problem)
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def new_context(
    browser: Browser, viewport: dict[str, int] | None = None, **options: Any
) -> BrowserContext:
    """A context with the settings every UI test and screenshot shares."""
    context = browser.new_context(
        viewport=viewport or DESKTOP, locale="en-US", timezone_id="UTC", **options
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


@dataclass
class PageEvents:
    """What a page did that a user would notice (or that signals a broken page)."""

    dialogs: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("dialog", self._on_dialog)
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        page.on(
            "console",
            lambda msg: self.console_errors.append(msg.text) if msg.type == "error" else None,
        )

    def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()


def open_page(
    browser: Browser, events: PageEvents | None = None, viewport: dict[str, int] | None = None
) -> Page:
    """A page in a fresh context (close it with `page.context.close()`)."""
    page = new_context(browser, viewport).new_page()
    if events is not None:
        events.watch(page)
    return page


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One chromium per UI test module, so Playwright's event loop is gone after it
    (other modules' tests call asyncio.run, which refuses a running loop)."""
    problem = chromium_problem()
    if problem:
        pytest.fail(problem, pytrace=False)
    with sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        yield launched
        launched.close()


@pytest.fixture
def page_events() -> PageEvents:
    return PageEvents()


def _checked_page(browser: Browser, events: PageEvents, viewport: dict[str, int]) -> Iterator[Page]:
    opened = open_page(browser, events, viewport)
    yield opened
    opened.context.close()
    if events.page_errors:
        pytest.fail(f"uncaught JavaScript errors: {events.page_errors}", pytrace=False)


@pytest.fixture
def page(browser: Browser, page_events: PageEvents) -> Iterator[Page]:
    """A fresh desktop-sized page; an uncaught JavaScript error during the test fails it."""
    yield from _checked_page(browser, page_events, DESKTOP)


@pytest.fixture
def phone_page(browser: Browser, page_events: PageEvents) -> Iterator[Page]:
    """Like `page`, on a phone-sized screen (PHONE)."""
    yield from _checked_page(browser, page_events, PHONE)
