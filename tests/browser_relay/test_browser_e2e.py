"""The whole path in a real browser: a page built with esbuild loads the SDK from the
relay, throws; the tracker holds the errors with the original files' frames; leaving
the page delivers its Web Vitals by beacon and the collector's dashboard shows them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from playwright.sync_api import expect

from browser_relay import SERVICE as RELAY
from error_tracker import SERVICE as TRACKER
from metrics_collector import SERVICE as COLLECTOR
from tests.helpers import StackProcess, wait_until
from tests.http_servers import AppServer, Recorded, Reply

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser import PageEvents

pytest_plugins = ["tests.browser"]

WEBAPP = Path(__file__).parent / "fixtures" / "webapp"
KEY = "e2e-key"
RELEASE = "shop@1.0.0"
AUTH = {"X-API-Key": KEY}


class ShopServer(AppServer):
    """The shop's own web server: its page and its built script."""

    def reply(self, request: Recorded) -> Reply:
        if request.path == "/app.min.js":
            body = (WEBAPP / "app.min.js").read_bytes()
            return Reply(200, {"Content-Type": "text/javascript"}, body)
        return super().reply(request)


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Shop</title>
<script src="{relay}/sdk/monlight.js"></script>
<script>Monlight.init({{dsn: "{dsn}", endpoint: "{relay}", release: "{release}"}})</script>
</head><body>
<h1>Tea shop</h1><p>Green tea, black tea and everything between, sent the same day.</p>
<button id="add">Add tea</button> <button id="checkout">Checkout</button>
<button id="prices">Prices in EUR</button> <span id="status"></span>
<script src="/app.min.js"></script>
</body></html>"""


@pytest.fixture
def shop() -> Iterator[ShopServer]:
    server = ShopServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def stack(tmp_path: Path, shop: ShopServer) -> Iterator[StackProcess]:
    with StackProcess(tmp_path, KEY, CORS_ORIGINS=shop.url) as running:
        for service in (TRACKER, COLLECTOR, RELAY):
            wait_until(
                lambda s=service: _healthy(running.url(s)), 30, what=f"{service.name} healthy"
            )
        yield running


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def browser_errors(tracker: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{tracker}/api/errors", params={"source": "browser"}, headers=AUTH)
    return list(r.json()["errors"])


def test_a_minified_pages_errors_and_vitals_arrive_mapped(
    page: Page, page_events: PageEvents, stack: StackProcess, shop: ShopServer, tmp_path: Path
) -> None:
    relay, tracker = stack.url(RELAY), stack.url(TRACKER)
    collector = stack.url(COLLECTOR)
    dsn = (tmp_path / "data" / "dev-dsn-key").read_text().strip()
    upload = httpx.post(
        f"{relay}/api/source-maps",
        headers=AUTH,
        json={
            "project": "dev",
            "release": RELEASE,
            "file_url": f"{shop.url}/app.min.js",
            "map_content": (WEBAPP / "app.min.js.map").read_text(),
        },
    )
    assert upload.status_code == 201, upload.text
    shop.pages["/"] = PAGE.format(relay=relay, dsn=dsn, release=RELEASE)

    page.goto(f"{shop.url}/")
    page.click("#add")
    page.wait_for_selector("#status:has-text('added')")
    with page.expect_event("pageerror"):
        page.click("#checkout")  # TypeError in cart.js's priceOf
    with page.expect_event("pageerror"):
        page.click("#prices")  # an unhandled RangeError from api.js's loadPrices
    wait_until(lambda: len(browser_errors(tracker)) == 2, 15, what="two browser errors")

    by_type = {e["exception_type"]: e for e in browser_errors(tracker)}
    assert set(by_type) == {"TypeError", "RangeError"}
    for kind, original in [
        ("TypeError", "src/cart.js:14:23"),
        ("RangeError", "src/api.js:3:9"),
    ]:
        listed = by_type[kind]
        assert listed["source"] == "browser" and listed["project"] == "dev"
        detail = httpx.get(f"{tracker}/api/errors/{listed['id']}", headers=AUTH).json()
        assert original in detail["traceback"], detail["traceback"]
        assert "app.min.js" not in detail["traceback"].split("\n", 1)[1]
        occurrence = detail["occurrences"][0]
        assert occurrence["request_method"] == "BROWSER"
        assert occurrence["extra"]["release"] == RELEASE
        assert "app.min.js" in occurrence["extra"]["original_stack"]
    assert (
        "priceOf"
        in httpx.get(f"{tracker}/api/errors/{by_type['TypeError']['id']}", headers=AUTH).json()[
            "traceback"
        ]
    )
    # Both reached the page as uncaught too (the SDK reports, it does not swallow).
    assert sorted(page_events.page_errors) == [
        "Cannot read properties of undefined (reading 'price')",
        "no price list for EUR",
    ]
    page_events.page_errors.clear()

    # Leaving the page sends its Web Vitals by beacon; the dashboard shows them.
    page.goto(f"{shop.url}/blank")

    def vitals() -> dict[str, Any]:
        r = httpx.get(f"{collector}/api/dashboard", params={"period": "1h"}, headers=AUTH)
        return r.json().get("web_vitals") or {}

    wait_until(lambda: "lcp" in vitals().get("summary", {}), 15, what="LCP on the dashboard")
    summary = vitals()["summary"]
    assert summary["lcp"]["count"] == 1 and summary["lcp"]["avg"] > 0
    assert summary["cls"]["count"] == 1
    names = httpx.get(f"{collector}/api/metrics/names", headers=AUTH).json()["metrics"]
    sent = {m["name"] for m in names}
    assert {"web_vitals_lcp", "web_vitals_cls", "web_vitals_fcp", "web_vitals_ttfb"} <= sent

    # And a person sees them on the collector's dashboard.
    page.goto(f"{collector}/")
    page.fill("#api-key", KEY)
    page.click("#key-form button[type=submit]")
    lcp = page.locator("#web-vitals .vital[data-vital='lcp']")
    expect(lcp).to_be_visible()
    expect(lcp.locator(".vital-value")).to_have_text(re.compile(r"^\d+(\.\d+)? (ms|s)$"))
