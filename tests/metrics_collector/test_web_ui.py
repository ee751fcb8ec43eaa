"""The Metrics Collector web UI, driven in headless chromium against a real collector.

Plain HTTP checks (page and assets need no key, uPlot is served by the service
itself, nothing outside the loaded assets is reachable) run over the app's
TestClient.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from starlette.testclient import TestClient

from tests import helpers
from tests.helpers import ServiceProcess, wait_until

if TYPE_CHECKING:
    from tests.browser import PageEvents

pytest_plugins = ["tests.browser"]  # the browser, page and page_events fixtures

KEY = "test-key"
KEY_STORE = "monlight.metrics_collector.api_key"
HISTOGRAM = "http_request_duration_ms"
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
UPLOT = "vendor/uplot-1.6.32"
#: p50 / p95 / p99 line colours of the percentile chart (metrics.js COLORS).
P99_RGB = (0xC2, 0x25, 0x5C)
NUMBER = re.compile(r"^-?\d[\d,]*(\.\d+)?$")
#: A duration as the page prints `*_ms` and `*_seconds` metrics.
MS = re.compile(r"^\d[\d,]*(\.\d+)? ms$")


def collector_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return helpers.collector_env(tmp_path, AGGREGATION_INTERVAL="60", **extra)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ServiceProcess]:
    with ServiceProcess("metrics_collector", collector_env(tmp_path)) as running:
        yield running


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def post(service: ServiceProcess, points: list[dict[str, Any]]) -> None:
    response = httpx.post(f"{service.url}/api/metrics", json=points, headers={"X-API-Key": KEY})
    assert response.status_code == 202, response.text


def api_get(service: ServiceProcess, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{service.url}{path}", params=params, headers={"X-API-Key": KEY})


def seed(service: ServiceProcess) -> dict[str, Any]:
    """Two series of one histogram over four minutes, a counter, browser Web Vitals.

    The `<script>` series has 20 values per minute, 5..100 plus the minute's
    offset, so its nearest-rank p50/p95/p99 are 50/95/100 plus that offset;
    the `/health` series adds two points to each of the two oldest minutes only,
    so the two newest buckets hold the `<script>` series alone.
    """
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    points: list[dict[str, Any]] = []
    for ago in range(1, 5):
        ts = iso(now - timedelta(minutes=ago) + timedelta(seconds=7))
        offset = 5 - ago  # the latest minute (1 min ago) has the largest
        for i in range(1, 21):
            points.append(
                {
                    "name": HISTOGRAM,
                    "type": "histogram",
                    "value": 5 * i + offset,
                    "labels": {"route": SCRIPT, "method": "GET"},
                    "timestamp": ts,
                }
            )
        for value in (300.0, 420.5) if ago >= 3 else ():
            points.append(
                {
                    "name": HISTOGRAM,
                    "type": "histogram",
                    "value": value,
                    "labels": {"route": "/health", "method": "GET"},
                    "timestamp": ts,
                }
            )
        points.append({"name": "orders_total", "type": "counter", "value": 2, "timestamp": ts})
    browser = {"source": "browser", "page": "/checkout"}
    vitals = [("lcp", v) for v in (1800, 2200, 3000, 5000)]
    vitals += [("inp", v) for v in (120, 150)] + [("cls", v) for v in (0.3, 0.4)]
    ts = iso(now - timedelta(minutes=2))
    points += [
        {
            "name": f"web_vitals_{k}",
            "type": "histogram",
            "value": v,
            "labels": browser,
            "timestamp": ts,
        }
        for k, v in vitals
    ]
    points.append(
        {
            "name": "web_vitals_lcp",
            "type": "histogram",
            "value": 1000,
            "labels": {"source": "browser", "page": IMG},
            "timestamp": ts,
        }
    )
    post(service, points)
    return {"latest_p99": 100 + 4, "script_points": 4 * 20, "all_points": 4 * 20 + 2 * 2}


def enter_key(page: Page, key: str = KEY) -> None:
    expect(page.locator("#key-form")).to_be_visible()
    page.fill("#api-key", key)
    page.click("#key-form button[type=submit]")


def legend_value(page: Page, chart: str, series: str):
    return page.locator(f"#{chart} .legend-item[data-series='{series}'] .legend-value")


def colored_pixels(page: Page, canvas_selector: str, rgb: tuple[int, int, int]) -> int:
    """How many pixels of a canvas are (nearly) the given colour: proof a line was drawn."""
    return int(
        page.eval_on_selector(
            canvas_selector,
            """(canvas, [r, g, b]) => {
            const { width, height } = canvas;
            const data = canvas.getContext("2d").getImageData(0, 0, width, height).data;
            let n = 0;
            for (let i = 0; i < data.length; i += 4) {
              if (data[i + 3] > 200 && Math.abs(data[i] - r) < 24 && Math.abs(data[i + 1] - g) < 24
                  && Math.abs(data[i + 2] - b) < 24) n++;
            }
            return n;
        }""",
            list(rgb),
        )
    )


def test_histogram_charts_labels_and_web_vitals(
    service: ServiceProcess, page: Page, page_events: PageEvents
) -> None:
    expected = seed(service)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(service.url + "/")
    enter_key(page)
    assert page.evaluate("name => localStorage.getItem(name)", KEY_STORE) == KEY
    # The picker lists every metric with its type.
    options = page.locator("#f-metric option")
    expect(options).to_contain_text(
        [
            f"{HISTOGRAM} · histogram",
            "orders_total · counter",
            "web_vitals_cls · histogram",
        ]
    )
    expect(page.locator("#s-distinct")).to_have_text("5")
    page.select_option("#f-metric", HISTOGRAM)
    expect(page).to_have_url(re.compile(rf"\?metric={HISTOGRAM}$"))
    expect(page.locator("#chart-title")).to_have_text(HISTOGRAM)
    expect(page.locator("#metric-type")).to_have_text("histogram")
    page.click(".seg[data-period='15m']")
    expect(page).to_have_url(re.compile(r"period=15m"))

    # Both charts are drawn by uPlot, with data.
    pct_canvas = page.locator("#pct-chart canvas")
    expect(pct_canvas).to_have_count(1)
    box = pct_canvas.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    expect(page.locator("#series-chart canvas")).to_have_count(1)
    # With the cursor elsewhere the legends show the latest bucket's values...
    expect(legend_value(page, "pct-chart", "p99")).to_have_text(f"{expected['latest_p99']} ms")
    expect(legend_value(page, "pct-chart", "p50")).to_have_text(MS)
    expect(legend_value(page, "series-chart", "count")).to_have_text("20")
    expect(page.locator("#pct-chart .legend-time")).to_contain_text("Latest")
    # The p99 line is on the canvas (uPlot may draw a frame after the legend is set).
    wait_until(
        lambda: colored_pixels(page, "#pct-chart canvas", P99_RGB) > 50,
        timeout=5,
        what="the p99 line drawn",
    )
    # ...and hovering a bucket with data shows that bucket's values.
    over = page.locator("#pct-chart .u-over")
    over.scroll_into_view_if_needed()
    over_box = over.bounding_box()
    assert over_box is not None
    # 15 one-minute buckets up to now; the data is 1–4 minutes old: aim at 2 minutes ago.
    page.mouse.move(over_box["x"] + over_box["width"] * 12 / 14, over_box["y"] + 40)
    expect(page.locator("#pct-chart .chart-legend")).to_have_class(re.compile("is-hovering"))
    expect(page.locator("#pct-chart .legend-time")).to_have_text(re.compile(r"^\d\d:\d\d$"))
    expect(legend_value(page, "pct-chart", "p99")).to_have_text(re.compile(r"^10[0-4] ms$"))
    # The cursor is synced: the avg/count chart shows the same bucket.
    expect(page.locator("#series-chart .chart-legend")).to_have_class(re.compile("is-hovering"))
    expect(legend_value(page, "series-chart", "avg")).to_have_text(MS)
    page.mouse.move(1, 1)
    expect(page.locator("#pct-chart .legend-time")).to_contain_text("Latest")

    # Filter by the hostile label value: it is matched, and shown as plain text.
    expect(page.locator("#s-points")).to_have_text(str(expected["all_points"]))
    page.fill("#f-labels", f"route:{SCRIPT}")
    page.press("#f-labels", "Enter")
    expect(page.locator("#label-chips .chip-value")).to_have_text(SCRIPT)
    expect(page.locator("#label-chips .chip-key")).to_have_text("route")
    expect(page.locator("#s-points")).to_have_text(str(expected["script_points"]))
    expect(legend_value(page, "series-chart", "count")).to_have_text("20")
    assert page.locator("#app script").count() == 0

    # Web Vitals: the 75th percentile (within 1 %) rated as Core Web Vitals rate it, the
    # average below it, and the good / NI / poor shares.
    vitals = page.locator("#web-vitals")
    expect(vitals).to_be_visible()
    lcp = vitals.locator("[data-vital='lcp']")
    # 1000, 1800, 2200, 3000, 5000: p75 is 3000; the average 2600.
    expect(lcp.locator(".vital-stat")).to_have_text("p75")
    expect(lcp.locator(".vital-value")).to_have_text(re.compile(r"^(2\.9[7-9]|3\.0[0-3]) s$"))
    expect(lcp.locator(".rating")).to_have_text("Needs improvement")
    expect(lcp.locator(".dist-legend")).to_have_text("60% Good20% Needs improvement20% Poor")
    expect(vitals.locator("[data-vital='inp'] .rating")).to_have_text("Good")
    expect(vitals.locator("[data-vital='inp'] .vital-value")).to_have_text(
        re.compile(r"^1(4[89]|5[0-2]) ms$")  # 120, 150: p75 is 150
    )
    expect(vitals.locator("[data-vital='cls'] .rating")).to_have_text("Poor")
    expect(vitals.locator("[data-vital='cls'] .vital-value")).to_have_text(
        re.compile(r"^0\.(39[6-9]|40[0-4])$")  # 0.3, 0.4: p75 is 0.4
    )
    expect(vitals.locator(".spark canvas")).to_have_count(3)  # a trend line per vital
    # The thresholds shown are the server's (stats.VITALS, handed over as data-vitals).
    expect(vitals.locator(".vital-foot")).to_have_text(
        [
            "5 samples · avg 2.60 s · good ≤ 2.50 s, poor > 4.00 s",
            "2 samples · avg 135 ms · good ≤ 200 ms, poor > 500 ms",
            "2 samples · avg 0.350 · good ≤ 0.100, poor > 0.250",
        ]
    )
    pages = vitals.locator(".page-row")
    expect(pages).to_have_count(2)
    expect(pages.locator(".page-path")).to_have_text(["/checkout", IMG])
    checkout = pages.nth(0).locator("td")
    expect(checkout).to_have_text(["/checkout", "3.00 s", "135 ms", "0.350", "4"])
    expect(checkout.nth(1)).to_have_class(re.compile("rating-text-needs-improvement"))
    expect(checkout.nth(2)).to_have_class(re.compile("rating-text-good"))
    expect(checkout.nth(3)).to_have_class(re.compile("rating-text-poor"))
    assert vitals.locator("img").count() == 0

    # A malformed filter shows the API's own 400 detail next to the field.
    page.fill("#f-labels", "route")
    page.press("#f-labels", "Enter")
    detail = api_get(service, "/api/metrics", name=HISTOGRAM, labels="route").json()["detail"]
    expect(page.locator("#labels-error")).to_have_text(detail)
    expect(page.locator("#f-labels")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#series-state")).to_contain_text("Fix the label filter")
    expect(page.locator("#pct-card")).to_be_hidden()
    # Clearing it brings the chart back.
    page.fill("#f-labels", "")
    page.press("#f-labels", "Enter")
    expect(page.locator("#labels-error")).to_be_hidden()
    expect(legend_value(page, "series-chart", "count")).to_have_text("20")
    expect(page.locator("#pct-card")).to_be_visible()

    assert page_events.dialogs == []
    assert not [e for e in page_events.console_errors if "Content Security Policy" in e]
    # Offline by design: every request went to the collector itself.
    assert requested and all(url.startswith(service.url + "/") for url in requested), requested


def test_empty_then_data_top_metrics_and_no_vitals_panel(
    service: ServiceProcess, page: Page
) -> None:
    page.goto(service.url + "/")
    enter_key(page)
    expect(page.locator("#series-state")).to_contain_text("No metrics yet")
    expect(page.locator("#s-datapoints")).to_have_text("0")
    expect(page.locator("#top-metrics")).to_contain_text("No points in this period.")
    expect(page.locator("#web-vitals")).to_be_hidden()

    ts = iso(datetime.now(UTC) - timedelta(seconds=30))
    post(
        service,
        [
            {
                "name": "queue_depth",
                "type": "gauge",
                "value": v,
                "timestamp": ts,
                "project": "worker",
            }
            for v in (3, 5)
        ],
    )
    post(
        service,
        [
            {
                "name": "signups_total",
                "type": "counter",
                "value": 1,
                "timestamp": ts,
                "project": "shop",
            }
        ],
    )
    page.click("#refresh")
    # The busiest metric is picked; a gauge gets no percentile chart.
    expect(page.locator("#f-metric")).to_have_value("queue_depth")
    expect(page.locator("#metric-type")).to_have_text("gauge")
    expect(legend_value(page, "series-chart", "avg")).to_have_text("4")
    expect(page.locator("#pct-card")).to_be_hidden()
    expect(page.locator("#s-datapoints")).to_have_text("3")
    expect(page.locator("#web-vitals")).to_be_hidden()  # no browser Web Vitals sent

    # Clicking a top metric selects it.
    rows = page.locator(".top-row")
    expect(rows).to_have_count(2)
    page.locator(".top-row[data-metric='signups_total']").click()
    expect(page.locator("#f-metric")).to_have_value("signups_total")
    expect(page.locator("#chart-title")).to_have_text("signups_total")
    expect(page.locator(".top-row.is-selected")).to_have_attribute("data-metric", "signups_total")
    expect(page).to_have_url(re.compile(r"metric=signups_total"))

    # The project filter comes from /api/projects and narrows everything.
    expect(page.locator("#f-project option")).to_have_text(["All projects", "shop", "worker"])
    page.select_option("#f-project", "worker")
    expect(rows).to_have_count(1)
    expect(page.locator("#s-datapoints")).to_have_text("2")
    expect(page.locator("#f-metric option")).to_have_text(
        ["queue_depth · gauge", "signups_total"]
    )  # the chosen one stays listed
    # State lives in the URL: a reload restores it.
    page.reload()
    expect(page.locator("#f-project")).to_have_value("worker")
    expect(page.locator("#f-metric")).to_have_value("signups_total")


def test_auto_refresh_and_pause(service: ServiceProcess, page: Page) -> None:
    ts = iso(datetime.now(UTC) - timedelta(seconds=30))
    post(service, [{"name": "jobs_done", "type": "counter", "value": 1, "timestamp": ts}])
    page.goto(service.url + "/?refresh=1")
    enter_key(page)
    expect(page.locator("#s-datapoints")).to_have_text("1")
    expect(page.locator("#auto-refresh")).to_have_attribute("aria-pressed", "false")

    # New points show up without touching the page.
    post(service, [{"name": "jobs_done", "type": "counter", "value": 1, "timestamp": ts}])
    expect(page.locator("#s-datapoints")).to_have_text("2")
    # A counter is drawn as its total per bucket.
    expect(legend_value(page, "series-chart", "sum")).to_have_text("2")

    # Paused: nothing is fetched any more (checked over three refresh periods).
    page.click("#auto-refresh")
    expect(page.locator("#auto-refresh")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#auto-refresh")).to_contain_text("Resume")
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    post(service, [{"name": "jobs_done", "type": "counter", "value": 1, "timestamp": ts}])
    page.wait_for_timeout(3000)
    assert not [url for url in fetched if "/api/" in url]
    expect(page.locator("#s-datapoints")).to_have_text("2")
    # The choice survives a reload; resuming refreshes at once.
    page.reload()
    expect(page.locator("#auto-refresh")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#s-datapoints")).to_have_text("3")
    page.click("#auto-refresh")
    expect(page.locator("#auto-refresh")).to_have_attribute("aria-pressed", "false")
    post(service, [{"name": "jobs_done", "type": "counter", "value": 1, "timestamp": ts}])
    expect(page.locator("#s-datapoints")).to_have_text("4")


def test_wrong_key_prompts_again(service: ServiceProcess, page: Page) -> None:
    page.goto(service.url + "/")
    enter_key(page, "not-the-key")
    expect(page.locator("#key-error")).to_contain_text("rejected")
    assert page.evaluate("name => localStorage.getItem(name)", KEY_STORE) is None
    enter_key(page)
    expect(page.locator("#filters")).to_be_visible()
    # Forgetting the key brings the prompt back.
    page.click("#forget-key")
    expect(page.locator("#key-form")).to_be_visible()
    assert page.evaluate("name => localStorage.getItem(name)", KEY_STORE) is None


def test_phone_layout_fits(service: ServiceProcess, phone_page: Page) -> None:
    seed(service)
    phone_page.goto(service.url + f"/?metric={HISTOGRAM}")
    enter_key(phone_page)
    expect(phone_page.locator("#pct-chart canvas")).to_have_count(1)
    expect(phone_page.locator("#web-vitals")).to_be_visible()
    width = phone_page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"page is {width}px wide on a 390px screen"


def test_extreme_values_print_compactly(service: ServiceProcess, page: Page) -> None:
    """A gauge of 1e300 printed 300 digits and stretched the page to 4,000 px."""
    at = (datetime.now(UTC) - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    post(
        service,
        [
            {"name": "huge", "type": "gauge", "value": 1e300, "timestamp": at},
            {"name": "tiny", "type": "gauge", "value": 2.5e-300, "timestamp": at},
        ],
    )
    for name, shown in (("huge", "1.00e300"), ("tiny", "2.50e-300")):
        page.goto(service.url + f"/?metric={name}")
        if page.locator("#key-form").is_visible():
            enter_key(page)
        expect(page.locator("#s-avg")).to_have_text(shown)
        expect(legend_value(page, "series-chart", "avg")).to_have_text(shown)
        expect(page.locator("#series-chart .legend-extra").first).to_contain_text(shown)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        viewport = page.evaluate("() => window.innerWidth")
        assert width <= viewport, f"page is {width}px wide in a {viewport}px window"


def test_thousands_of_metric_names_are_filtered_not_listed(
    service: ServiceProcess, page: Page
) -> None:
    """A flood of distinct names killed the page ("Maximum call stack size exceeded"):
    the list shows the first 1,000 with the total, and typing narrows it."""
    at = (datetime.now(UTC) - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for batch in range(2):
        post(
            service,
            [
                {"name": f"flood_{batch}_{i:04d}", "type": "counter", "value": 1, "timestamp": at}
                for i in range(700)
            ],
        )
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(service.url + "/")
    enter_key(page)
    expect(page.locator("#metric-count")).to_have_text("1,000 of 1,400: type to filter")
    assert page.locator("#f-metric option").count() == 1000
    page.fill("#f-metric-filter", "flood_1_069")
    expect(page.locator("#metric-count")).to_have_text("10 matching")
    expect(page.locator("#f-metric option")).to_have_count(11)  # plus the chosen one
    page.select_option("#f-metric", "flood_1_0695")
    expect(page.locator("#chart-title")).to_contain_text("flood_1_0695")
    expect(page.locator("#s-points")).to_have_text("1")
    assert not errors


def test_thousands_of_projects_get_a_filter(service: ServiceProcess, page: Page) -> None:
    at = (datetime.now(UTC) - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for batch in range(2):
        post(
            service,
            [
                {"name": "jobs", "type": "counter", "value": 1, "timestamp": at,
                 "project": f"team-{batch}-{i:03d}"}
                for i in range(600)
            ],
        )  # fmt: skip
    page.goto(service.url + "/")
    enter_key(page)
    expect(page.locator("#f-project-filter")).to_be_visible()
    expect(page.locator("#f-project option")).to_have_count(1001)  # "All projects" + 1,000
    page.fill("#f-project-filter", "team-1-59")
    expect(page.locator("#f-project option")).to_have_count(11)
    page.select_option("#f-project", "team-1-595")
    expect(page.locator("#s-datapoints")).to_have_text("1")


def test_refused_batches_are_shown(service: ServiceProcess, page: Page) -> None:
    post(service, [{"name": "ok", "type": "counter", "value": 1}])
    page.goto(service.url + "/")
    enter_key(page)
    expect(page.locator("#s-datapoints")).to_have_text("1")
    expect(page.locator("#rejected")).to_be_hidden()
    for _ in range(2):
        bad = httpx.post(
            f"{service.url}/api/metrics", json=[{"name": "x"}], headers={"X-API-Key": KEY}
        )
        assert bad.status_code == 400
    page.click("#refresh")
    expect(page.locator("#rejected")).to_contain_text("2 batches were refused in the last 24 h")


# ---- plain HTTP --------------------------------------------------------------------


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    from metrics_collector import SERVICE as COLLECTOR
    from metrics_collector.config import from_env

    with TestClient(COLLECTOR.app(from_env(collector_env(tmp_path)))) as test_client:
        yield test_client


def test_page_and_assets_need_no_key_and_are_local(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert urls and all(url.startswith("./") for url in urls), urls  # no CDN, no absolute URL
    assert any(f"static/{UPLOT}/uPlot.iife.min.js?v=" in url for url in urls)
    for url in [url for url in urls if url != "./"]:  # "./" is the brand link home
        asset = client.get(url.removeprefix("."))
        assert asset.status_code == 200, url
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable", url
    vendored = Path(__file__).resolve().parents[2] / "metrics_collector" / "static" / UPLOT
    served = client.get(f"/static/{UPLOT}/uPlot.iife.min.js")
    assert served.content == (vendored / "uPlot.iife.min.js").read_bytes()
    assert served.headers["cache-control"] == "no-cache"  # unversioned URL: revalidate
    etag = served.headers["etag"]
    assert (
        client.get(
            f"/static/{UPLOT}/uPlot.iife.min.js", headers={"If-None-Match": etag}
        ).status_code
        == 304
    )
    assert (vendored / "LICENSE").read_text().startswith("The MIT License")


def test_static_serves_only_known_assets(client: TestClient) -> None:
    for path in (
        "/static/nope.js",
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/page.html",
        f"/static/{UPLOT}/LICENSE",
        "/static/shared/../web_ui.py",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "<" not in response.text
    assert client.get("/api/dashboard").status_code == 401  # the data still needs the key


SECONDS_METRIC = "http_request_duration_seconds"
ENDPOINTS = {"/": 0.012, "/items": 0.025, "/search": 0.04, "/checkout": 0.3}


def seed_routes(service: ServiceProcess) -> dict[str, int]:
    """Latencies of four endpoints over three minutes, /checkout ten times slower."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    points: list[dict[str, Any]] = []
    counts = dict.fromkeys(ENDPOINTS, 0)
    for ago in range(1, 4):
        ts = iso(now - timedelta(minutes=ago) + timedelta(seconds=5))
        for endpoint, base in ENDPOINTS.items():
            for i in range(1, 21):
                points.append(
                    {
                        "name": SECONDS_METRIC,
                        "type": "histogram",
                        "value": base * (0.8 + i / 50),
                        "labels": {"endpoint": endpoint, "method": "GET" if i % 4 else "POST"},
                        "timestamp": ts,
                    }
                )
                counts[endpoint] += 1
        points.append(
            {"name": "http_requests_total", "type": "counter", "value": 80, "timestamp": ts}
        )
    post(service, points)
    return counts


def test_breakdown_finds_the_slow_route(service: ServiceProcess, page: Page) -> None:
    """Must show 3 of "metrics you can trust": from a fresh dashboard to the slow route."""
    counts = seed_routes(service)
    page.goto(service.url + "/")
    enter_key(page)
    # Three minutes of data: the default period fits them (not a sliver of a 24 h axis).
    expect(page.locator(".seg[data-period='15m']")).to_have_attribute("aria-pressed", "true")
    expect(page).not_to_have_url(re.compile("period="))
    page.select_option("#f-metric", SECONDS_METRIC)

    # The breakdown by endpoint, slowest p95 first, values in ms.
    card = page.locator("#breakdown")
    expect(card).to_be_visible()
    expect(page.locator("#f-breakdown")).to_have_value("endpoint")
    rows = card.locator(".breakdown-row")
    expect(rows).to_have_count(4)
    expect(rows.nth(0)).to_have_attribute("data-value", "/checkout")
    expect(card.locator("th[aria-sort='descending']")).to_contain_text("p95")
    expect(rows.nth(0).locator("td[data-col='p95']")).to_have_text(re.compile(r"^3\d\d ms$"))
    expect(rows.nth(0).locator("td[data-col='count']")).to_have_text(str(counts["/checkout"]))
    expect(rows.nth(3).locator("td[data-col='p95']")).to_have_text(re.compile(r"^1\d(\.\d)? ms$"))
    # Sorting by another column is a click away.
    card.locator("button.sort[data-col='count']").click()
    expect(card.locator("th[aria-sort='descending']")).to_contain_text("Count")
    card.locator("button.sort[data-col='p95']").click()
    expect(rows.nth(0)).to_have_attribute("data-value", "/checkout")

    # A click on the slow route filters the chart to it.
    rows.nth(0).click()
    expect(page.locator("#label-chips .chip-key")).to_have_text("endpoint")
    expect(page.locator("#label-chips .chip-value")).to_have_text("/checkout")
    expect(page).to_have_url(re.compile(r"labels=endpoint%3A%2Fcheckout"))
    expect(page.locator("#s-points")).to_have_text(str(counts["/checkout"]))
    expect(page.locator("#s-avg")).to_have_text(re.compile(r"^3\d\d ms$"))
    expect(legend_value(page, "series-chart", "avg")).to_have_text(re.compile(r"^3\d\d ms$"))
    expect(legend_value(page, "pct-chart", "p99")).to_have_text(re.compile(r"^3\d\d ms$"))
    expect(rows).to_have_count(1)

    # Label pickers offer the metric's keys and values: no guessing.
    page.select_option("#f-label-key", "method")
    values = page.locator("#f-label-value option")
    expect(values).to_contain_text(["method = …", "GET · ", "POST · "])
    page.select_option("#f-label-value", "POST")
    expect(page.locator("#label-chips .chip-value")).to_have_text(["/checkout", "POST"])
    expect(page.locator("#f-labels")).to_have_value("endpoint:/checkout, method:POST")
    expect(page.locator("#s-points")).to_have_text(str(counts["/checkout"] // 4))
    # A chip's × takes its filter away again.
    page.locator("#label-chips .chip-remove[aria-label='Remove the filter on endpoint']").click()
    expect(page.locator("#f-labels")).to_have_value("method:POST")

    # A key the metric does not have is named, not an unexplained empty chart.
    page.fill("#f-labels", "endpiont:/checkout")
    page.press("#f-labels", "Enter")
    expect(page.locator("#labels-warning")).to_contain_text("“endpiont”")
    expect(page.locator("#labels-warning")).to_contain_text("endpoint, method")

    # A counter is drawn as its total per bucket; top metrics show a histogram's p95.
    page.fill("#f-labels", "")
    page.press("#f-labels", "Enter")
    page.select_option("#f-metric", "http_requests_total")
    expect(legend_value(page, "series-chart", "sum")).to_have_text("80")
    expect(page.locator("#s-avg-label")).to_have_text("Selected metric · total")
    expect(page.locator("#s-avg")).to_have_text("240")
    top = page.locator(f".top-row[data-metric='{SECONDS_METRIC}'] .top-figure")
    expect(top).to_have_text(re.compile(r"^p95 \d+ ms$"))
    expect(page.locator(".top-row[data-metric='http_requests_total'] .top-figure")).to_have_text(
        "Σ 240"
    )


def test_percentiles_from_before_sketches_are_marked(service: ServiceProcess, page: Page) -> None:
    """A minute row written by an earlier release (no sketch) is flagged as approximate."""
    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    with sqlite3.connect(service.env["DATABASE_PATH"]) as conn:
        for table in ("metrics_aggregated", "metrics_merged"):  # as migrations 13-14 leave it
            conn.execute(
                f"INSERT INTO {table} (bucket, resolution, name, labels, count, sum, min,"
                " max, avg, p50, p95, p99, type) VALUES (?, 'minute', 'old_latency_seconds',"
                " NULL, 2, 1.0, 0.25, 0.75, 0.5, 0.25, 0.75, 0.75, 'histogram')",
                (iso(minute - timedelta(minutes=5)),),
            )
        conn.execute(  # as if that minute had been aggregated by the earlier release
            "INSERT OR REPLACE INTO metrics_state (key, value) VALUES ('aggregated_through', ?)",
            (iso(minute),),
        )
        conn.execute(
            "INSERT OR IGNORE INTO metric_catalog (name, type, project)"
            " VALUES ('old_latency_seconds', 'histogram', '')"
        )
    page.goto(service.url + "/?metric=old_latency_seconds")
    enter_key(page)
    expect(page.locator("#approx-note")).to_be_visible()
    expect(page.locator("#approx-note")).to_have_attribute("title", re.compile("understate"))
