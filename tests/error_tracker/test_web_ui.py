"""The Error Tracker web UI, driven in headless chromium against a real server.

A few plain HTTP checks (pages and assets need no key, are cached sensibly and
cannot be used to read other files) run over the app's TestClient.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from starlette.testclient import TestClient

from tests.helpers import (
    ROOT,
    ServiceProcess,
    collector_env,
    free_port,
    published_client_dir,
    tracker_env,
    wait_until,
)

if TYPE_CHECKING:
    from tests.browser import PageEvents

pytest_plugins = ["tests.browser"]  # the browser, page and page_events fixtures

KEY = "test-key"
KEY_STORE = "monlight.error_tracker.api_key"
XSS = "<img src=x onerror=alert(1)>"
PY_TB = (
    "Traceback (most recent call last):\n"
    '  File "shop/orders.py", line 42, in checkout\n'
    "    total = compute(order)\n"
    "ValueError: bad order\n"
)
JS_STACK = (
    "TypeError: Cannot read properties of undefined (reading 'map')\n"
    "    at CartList (https://shop.example.com/assets/index.js:112:18)\n"
)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ServiceProcess]:
    with ServiceProcess("error_tracker", tracker_env(tmp_path)) as running:
        yield running


def post_error(service: ServiceProcess, **fields: Any) -> int:
    body = {
        "project": "shop",
        "exception_type": "ValueError",
        "message": "bad order",
        "traceback": PY_TB,
        **fields,
    }
    response = httpx.post(f"{service.url}/api/errors", json=body, headers={"X-API-Key": KEY})
    assert response.status_code in (200, 201), response.text
    return int(response.json()["id"])


def api_get(service: ServiceProcess, path: str) -> Any:
    return httpx.get(f"{service.url}{path}", headers={"X-API-Key": KEY}).json()


def enter_key(page: Page, key: str = KEY) -> None:
    expect(page.locator("#key-form")).to_be_visible()
    page.fill("#api-key", key)
    page.click("#key-form button[type=submit]")


def stored_key(page: Page) -> str | None:
    return page.evaluate("name => localStorage.getItem(name)", KEY_STORE)


def row(page: Page, error_id: int):
    return page.locator(f'.error-row[data-id="{error_id}"]')


def test_list_filter_detail_and_resolve(
    service: ServiceProcess, page: Page, page_events: PageEvents
) -> None:
    xss_id = post_error(
        service,
        message=XSS,
        request_url="https://shop.example.com/checkout?step=2",
        request_method="POST",
        request_headers={"User-Agent": "pytest-agent/1.0"},
        user_id="user-42",
        extra={"order_id": 7, "cart": {"items": 3}},
    )
    js_id = post_error(
        service,
        project="storefront",
        exception_type="TypeError",
        message="Cannot read properties of undefined (reading 'map')",
        traceback=JS_STACK,
        request_method="BROWSER",
        request_url="https://shop.example.com/cart",
    )

    page.goto(service.url + "/")
    enter_key(page)
    rows = page.locator(".error-row")
    expect(rows).to_have_count(2)
    assert stored_key(page) == KEY
    expect(page.locator("#summary")).to_have_text("Showing 1–2 of 2")
    # Newest first; the hostile message is shown verbatim, as text.
    expect(rows.nth(0)).to_have_attribute("data-id", str(js_id))
    expect(row(page, xss_id).locator(".c-message .message-text")).to_have_text(XSS)
    expect(row(page, xss_id).locator(".c-type")).to_have_text("ValueError")
    expect(row(page, xss_id).locator(".c-project")).to_have_text("shop")
    expect(row(page, xss_id).locator(".c-count")).to_have_text("1")
    expect(row(page, xss_id).locator(".c-source")).to_have_text("Server")
    expect(row(page, js_id).locator(".c-source")).to_have_text("Browser")
    expect(row(page, xss_id).locator(".c-status")).to_have_text("Unresolved")
    last_seen = row(page, xss_id).locator(".c-last time")
    expect(last_seen).to_have_text("just now")
    expect(last_seen).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"))
    assert page.locator("#app img").count() == 0
    assert page_events.dialogs == []

    # Search filters as you type, and the filter lands in the URL.
    page.fill("#f-search", "ONERROR")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", str(xss_id))
    expect(page).to_have_url(re.compile(r"\?search=ONERROR$"))
    page.fill("#f-search", "")
    expect(rows).to_have_count(2)
    # Project dropdown is filled from /api/projects.
    expect(page.locator("#f-project option")).to_have_text(["All projects", "shop", "storefront"])
    page.select_option("#f-project", "storefront")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", str(js_id))
    page.select_option("#f-project", "")
    page.select_option("#f-source", "server")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", str(xss_id))
    page.select_option("#f-source", "")
    expect(rows).to_have_count(2)

    # Clicking anywhere on the row opens the detail page.
    row(page, xss_id).locator(".c-message").click()
    expect(page).to_have_url(f"{service.url}/errors/{xss_id}")
    expect(page.locator("#error-type")).to_have_text("ValueError")
    expect(page.locator("#error-message")).to_have_text(XSS)
    traceback = page.locator("#traceback")
    expect(traceback).to_contain_text('File "shop/orders.py", line 42, in checkout')
    expect(traceback).to_contain_text("ValueError: bad order")
    assert "mono" in traceback.evaluate("el => getComputedStyle(el).fontFamily").lower()
    occurrence = page.locator(".occurrence")
    expect(occurrence).to_have_count(1)
    expect(occurrence.locator(".method")).to_have_text("POST")
    expect(occurrence.locator(".occ-url")).to_have_text("https://shop.example.com/checkout?step=2")
    expect(occurrence).to_contain_text("user-42")
    headers = occurrence.locator(".kv-section", has_text="Request headers")
    expect(headers.locator("th")).to_have_text(["User-Agent"])
    expect(headers.locator("td")).to_have_text(["pytest-agent/1.0"])
    extra = occurrence.locator(".kv-section", has_text="Extra")
    expect(extra.locator("th")).to_have_text(["order_id", "cart"])
    expect(extra.locator("td")).to_have_text(["7", '{"items":3}'])
    expect(page.locator("#status")).to_have_text("Unresolved")
    assert page.locator("#app img").count() == 0
    assert page_events.dialogs == []

    page.click("#resolve")
    expect(page.locator("#status")).to_have_text("Resolved")
    expect(page.locator("#resolved-note")).to_contain_text("Resolved just now")
    expect(page.locator("#resolve")).to_have_count(0)
    assert api_get(service, f"/api/errors/{xss_id}")["resolved"] is True
    page.reload()
    expect(page.locator("#status")).to_have_text("Resolved")

    # Back on the list it has left the default (unresolved) view...
    page.click("a.back")
    expect(page).to_have_url(f"{service.url}/")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", str(js_id))
    # ...and shows under "Resolved".
    page.select_option("#f-resolved", "true")
    expect(rows).to_have_count(1)
    expect(row(page, xss_id).locator(".c-status")).to_have_text("Resolved")
    assert page_events.dialogs == []


def test_wrong_key_prompts_again_with_an_error(service: ServiceProcess, page: Page) -> None:
    error_id = post_error(service)
    page.goto(service.url + "/")
    enter_key(page, "not-the-key")
    expect(page.locator("#key-error")).to_contain_text("rejected")
    expect(page.locator("#api-key")).to_be_visible()
    assert stored_key(page) is None
    enter_key(page)
    expect(row(page, error_id)).to_be_visible()
    expect(page.locator("#key-error")).to_have_count(0)


def test_key_rejected_later_or_forgotten_asks_again(service: ServiceProcess, page: Page) -> None:
    error_id = post_error(service)
    page.goto(service.url + "/")
    enter_key(page)
    expect(row(page, error_id)).to_be_visible()

    # The server's key changed under a saved one: the next call brings the prompt back.
    page.evaluate("([name, key]) => localStorage.setItem(name, key)", [KEY_STORE, "stale"])
    page.click("#refresh")
    expect(page.locator("#key-error")).to_contain_text("rejected")
    assert stored_key(page) is None
    enter_key(page)
    expect(row(page, error_id)).to_be_visible()

    page.click("#forget-key")
    expect(page.locator("#key-form")).to_be_visible()
    expect(page.locator("#forget-key")).to_be_hidden()
    assert stored_key(page) is None
    page.reload()
    expect(page.locator("#key-form")).to_be_visible()


def test_saved_key_is_used_on_the_next_visit(service: ServiceProcess, page: Page) -> None:
    error_id = post_error(service)
    page.goto(service.url + "/")
    enter_key(page)
    expect(row(page, error_id)).to_be_visible()
    page.goto(f"{service.url}/errors/{error_id}")
    expect(page.locator("#traceback")).to_be_visible()
    expect(page.locator("#key-form")).to_have_count(0)


def test_unknown_error_page_says_not_found(service: ServiceProcess, page: Page) -> None:
    response = page.goto(f"{service.url}/errors/abc")
    assert response is not None and response.status == 200
    enter_key(page)
    expect(page.locator(".state-title")).to_have_text("Error not found")
    page.goto(f"{service.url}/errors/999999")
    expect(page.locator(".state-title")).to_have_text("Error not found")
    page.click("text=Back to the list")
    expect(page).to_have_url(f"{service.url}/")


def test_pagination(service: ServiceProcess, page: Page) -> None:
    for n in range(55):
        post_error(service, exception_type=f"Error{n:02d}")
    page.goto(service.url + "/")
    enter_key(page)
    rows = page.locator(".error-row")
    expect(rows).to_have_count(50)
    expect(page.locator("#summary")).to_have_text("Showing 1–50 of 55")
    expect(page.locator("#prev")).to_be_disabled()
    expect(rows.first.locator(".c-type")).to_have_text("Error54")

    page.click("#next")
    expect(page.locator("#summary")).to_have_text("Showing 51–55 of 55")
    expect(rows).to_have_count(5)
    expect(rows.last.locator(".c-type")).to_have_text("Error00")
    expect(page.locator("#next")).to_be_disabled()
    expect(page).to_have_url(re.compile(r"\?offset=50$"))
    page.reload()  # the page is in the URL
    expect(page.locator("#summary")).to_have_text("Showing 51–55 of 55")

    page.click("#prev")
    expect(page.locator("#summary")).to_have_text("Showing 1–50 of 55")


def test_empty_states(service: ServiceProcess, page: Page) -> None:
    page.goto(service.url + "/")
    enter_key(page)
    expect(page.locator(".state-title")).to_have_text("No errors — all clear")
    error_id = post_error(service)
    page.click("#refresh")
    expect(row(page, error_id)).to_be_visible()
    page.fill("#f-search", "nothing like this")
    expect(page.locator(".state-title")).to_have_text("No errors match these filters")
    page.click("text=Clear filters")
    expect(row(page, error_id)).to_be_visible()
    expect(page.locator("#f-search")).to_have_value("")


def test_server_failure_shows_an_error_and_retry_recovers(
    service: ServiceProcess, page: Page
) -> None:
    error_id = post_error(service)
    page.goto(service.url + "/")
    enter_key(page)
    expect(row(page, error_id)).to_be_visible()

    service.stop()
    page.click("#refresh")
    problem = page.locator(".state-error")
    expect(problem).to_contain_text("Could not reach the Error Tracker")
    expect(page.locator("#key-form")).to_have_count(0)  # not mistaken for a bad key

    service.start()
    problem.locator("text=Retry").click()
    expect(row(page, error_id)).to_be_visible()


def test_narrow_screen_has_no_sideways_scroll(service: ServiceProcess, phone_page: Page) -> None:
    page = phone_page
    error_id = post_error(service, message="x" * 400, request_url="https://e.com/" + "p" * 300)
    page.goto(service.url + "/")
    enter_key(page)
    message = row(page, error_id).locator(".c-message")
    expect(message).to_be_visible()
    box = message.bounding_box()
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert width < 500
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    overflow = "document.documentElement.scrollWidth - window.innerWidth"
    assert page.evaluate(overflow) <= 0
    message.click()
    expect(page.locator("#traceback")).to_be_visible()
    expect(page.locator("#resolve")).to_be_visible()
    assert page.evaluate(overflow) <= 0


# ---- plain HTTP: pages and assets ---------------------------------------------------


@pytest.fixture
def anonymous(tracker: TestClient) -> TestClient:
    """The app without an API key: pages and assets must not need one."""
    tracker.headers.pop("X-API-Key", None)
    return tracker


def asset_urls(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(\.\.?/static/[^"]+)"', html)


def test_pages_need_no_key_and_forbid_inline_script(anonymous: TestClient) -> None:
    assert anonymous.get("/api/errors").status_code == 401
    for path, root in (("/", "./"), ("/errors/12", "../"), ("/errors/abc", "../")):
        response = anonymous.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert f'data-root="{root}"' in response.text
        urls = asset_urls(response.text)
        assert len(set(urls)) == 6 and all(u.startswith(f"{root}static/") for u in urls)


def test_assets_have_types_and_cache_headers(anonymous: TestClient) -> None:
    types = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
    for url in set(asset_urls(anonymous.get("/").text)):
        response = anonymous.get(url.removeprefix("."))
        assert response.status_code == 200, url
        suffix = re.search(r"\.\w+(?=\?)", url)
        assert suffix is not None
        assert response.headers["content-type"].startswith(types[suffix.group()])
        # The URL carries the content hash, so it may be cached for good...
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        etag = response.headers["etag"]
        assert url.endswith(f"?v={etag.strip(chr(34))}")
        # ...an unversioned URL is revalidated, and an unchanged asset costs a 304.
        plain = anonymous.get(url.removeprefix(".").split("?")[0])
        assert plain.headers["cache-control"] == "no-cache"
        assert (
            anonymous.get(url.removeprefix("."), headers={"If-None-Match": etag}).status_code == 304
        )


def test_only_listed_assets_are_served(anonymous: TestClient) -> None:
    for path in (
        "/static/page.html",
        "/static/nope.js",
        "/static/..%2Fapp.py",
        "/static/../app.py",
        "/static/",
    ):
        response = anonymous.get(path)
        assert response.status_code == 404, path
        assert "import" not in response.text


def test_a_regression_is_badged_and_has_its_own_filter(service: ServiceProcess, page: Page) -> None:
    back = post_error(service, exception_type="PaymentError", message="card declined")
    steady = post_error(service, exception_type="KeyError", message="'sku'")
    resolved = httpx.post(f"{service.url}/api/errors/{back}/resolve", headers={"X-API-Key": KEY})
    assert resolved.status_code == 200
    post_error(service, exception_type="PaymentError", message="card declined")  # came back

    page.goto(service.url + "/")
    enter_key(page)
    expect(page.locator(".error-row")).to_have_count(2)
    expect(row(page, back).locator(".c-status .badge")).to_have_text("Regressed")
    expect(row(page, steady).locator(".c-status .badge")).to_have_text("Unresolved")

    page.select_option("#f-resolved", "regressed")
    expect(page.locator(".error-row")).to_have_count(1)
    expect(row(page, back)).to_be_visible()
    expect(page).to_have_url(re.compile(r"resolved=regressed"))

    page.goto(f"{service.url}/errors/{back}")
    expect(page.locator("#status .badge")).to_have_text("Regressed")


def test_the_culprit_shows_in_the_list_and_on_the_detail(
    service: ServiceProcess, page: Page
) -> None:
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "/usr/lib/python3.12/site-packages/starlette/routing.py", line 74, in app\n'
        '  File "/srv/shop/app/views.py", line 51, in coupon\n'
        '  File "/usr/lib/python3.12/json/decoder.py", line 355, in raw_decode\n'
        "ValueError: bad coupon\n"
    )
    error_id = post_error(service, traceback=traceback)
    page.goto(service.url + "/")
    enter_key(page)
    expect(row(page, error_id).locator(".culprit")).to_have_text("shop/app/views.py:51 in coupon")
    row(page, error_id).locator(".type-link").click()
    expect(page.locator("#culprit")).to_have_text("shop/app/views.py:51 in coupon")


def readme_fastapi_app() -> str:
    """The README's complete FastAPI app, as a reader pastes it."""
    text = (ROOT / "README.md").read_text()
    match = re.search(r"as `main\.py`.*?```python\n(.*?)```", text, re.S)
    assert match is not None, "the README's FastAPI snippet is gone"
    return match.group(1)


@contextmanager
def pasted_fastapi_app(tmp_path: Path, tracker: str, collector: str) -> Iterator[str]:
    """The README's app in `main.py`, run as the README says: `uvicorn main:app`, with
    the published monlight client and MONLIGHT_API_KEY from the environment."""
    code = readme_fastapi_app()
    assert "http://127.0.0.1:5010" in code and "http://127.0.0.1:5012" in code
    app_dir = tmp_path / "shop"
    app_dir.mkdir()
    (app_dir / "main.py").write_text(
        code.replace("http://127.0.0.1:5010", tracker).replace("http://127.0.0.1:5012", collector)
    )
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(published_client_dir()), "MONLIGHT_API_KEY": KEY}
    log = (tmp_path / "app.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=app_dir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, (tmp_path / "app.log").read_text()
        try:
            return httpx.get(f"{url}/openapi.json", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(up, what="the README's FastAPI app")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_a_fastapi_error_opens_on_the_apps_frame(
    tmp_path: Path, service: ServiceProcess, page: Page
) -> None:
    """Must-show 3: the README's FastAPI app, pasted, reports a real error; its page
    shows the app's frame without scrolling and folds the framework's frames; the
    list shows the culprit and the hour's report in the sparkline."""
    with (
        ServiceProcess("metrics_collector", collector_env(tmp_path)) as collector,
        pasted_fastapi_app(tmp_path, service.url, collector.url) as app_url,
    ):
        assert httpx.get(f"{app_url}/coupons/WELCOME10").json() == {"percent_off": 10}
        assert httpx.get(f"{app_url}/coupons/NOPE").status_code == 500

        def reported() -> list[Any]:
            return api_get(service, "/api/errors?project=shop")["errors"]  # type: ignore[no-any-return]

        wait_until(reported, what="the FastAPI error in the tracker")
        (group,) = reported()
        raising_line = 1 + readme_fastapi_app().split("\n").index(
            '    return {"percent_off": COUPONS[code]}  # an unknown code raises KeyError'
        )
        assert group["exception_type"] == "KeyError"
        # The path's last three parts: the test's temporary directory, then shop/main.py.
        assert group["culprit"] == f"{tmp_path.name}/shop/main.py:{raising_line} in coupon"

        page.goto(service.url + "/")
        enter_key(page)
        listed = row(page, group["id"])
        expect(listed.locator(".culprit")).to_have_text(group["culprit"])
        spark = listed.locator("svg.sparkline")
        expect(spark).to_have_attribute("aria-label", re.compile(r"^1 report in the last 24 hours"))
        expect(spark.locator("rect")).to_have_count(24)
        expect(spark.locator("rect.bar:not(.bar-empty)")).to_have_count(1)

        listed.click()
        culprit = page.locator("#traceback-culprit")
        expect(culprit).to_be_in_viewport(ratio=1)
        expect(culprit).to_contain_text(f'main.py", line {raising_line}, in coupon')
        expect(culprit).to_contain_text("COUPONS[code]")
        assert page.evaluate("window.scrollY") == 0  # in view as the page opens
        folds = page.locator("#traceback .tb-lib")
        assert folds.count() >= 1
        expect(page.locator("#traceback .tb-lib[open]")).to_have_count(0)
        summary = folds.first.locator("summary")
        expect(summary).to_have_text(re.compile(r"^\d+ library frames · .*starlette"))
        library = folds.first.locator(".tb-frame").first
        expect(library).to_be_hidden()
        summary.click()
        expect(library).to_be_visible()
        expect(library).to_contain_text("site-packages")

        # The snippet's other promise: the requests reach the Metrics Collector.
        def requests_counted() -> bool:
            data = httpx.get(
                f"{collector.url}/api/metrics",
                params={"name": "http_requests_total", "period": "1h"},
                headers={"X-API-Key": KEY},
            ).json()
            return bool(data.get("data"))

        wait_until(requests_counted, timeout=30, what="the app's request metrics")


def test_the_sdk_page_makes_a_dsn_to_copy(service: ServiceProcess, page: Page) -> None:
    """From the list to "Sentry SDKs": a DSN made for a project, shown to copy, and it
    works: an event sent with it lands in the list."""
    page.goto(service.url + "/")
    enter_key(page)
    page.click("#sdk-link")
    expect(page.get_by_text("No DSN yet")).to_be_visible()
    page.fill("#dsn-project", "shop")
    page.click("#dsn-form button[type=submit]")
    dsn = page.locator("#dsns .dsn-row code.dsn")
    expect(dsn).to_have_count(1)
    host = service.url.split("//")[1]
    expect(dsn).to_have_text(re.compile(rf"^http://[0-9a-f]{{32}}@{re.escape(host)}/1$"))
    expect(page.locator("#dsns .dsn-row .project")).to_have_text("shop")
    key = dsn.inner_text().split("//")[1].split("@")[0]
    sent = httpx.post(
        f"{service.url}/api/1/store/?sentry_key={key}",
        content=b'{"message": "hello from a Sentry SDK"}',
    )
    assert sent.status_code == 200
    page.goto(service.url + "/")
    expect(page.locator(".error-row .message-text")).to_have_text("hello from a Sentry SDK")
