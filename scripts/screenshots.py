"""README screenshots of each service's web UI, taken with headless Debian chromium.

    .venv/bin/python scripts/screenshots.py               # every service below
    .venv/bin/python scripts/screenshots.py error_tracker # just one

Each service has one function `shoot_<service>(browser, out_dir, work_dir)` that
starts the real service (`python -m <package>` on loopback), fills it with
realistic sample data through its API and saves PNGs into docs/screenshots/.
Add yours to SHOOTERS.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

from error_tracker.activity import bump, hour_of  # noqa: E402
from shared.timeutil import format_iso  # noqa: E402
from tests.browser import DESKTOP, launch_chromium, open_page  # noqa: E402
from tests.helpers import ServiceProcess, tracker_env  # noqa: E402

OUT_DIR = ROOT / "docs" / "screenshots"
API_KEY = "test-key"  # tracker_env's key

# ---- Error Tracker ------------------------------------------------------------

# A real FastAPI traceback (starlette → fastapi → the app), paths as in a container.
PY_ORDER_TB = """Traceback (most recent call last):
  File "$SITE/starlette/middleware/errors.py", line 164, in __call__
    await self.app(scope, receive, _send)
  File "$SITE/fastapi/telemetry/_asgi.py", line 151, in __call__
    await self.app(scope, receive, send)
  File "$SITE/fastapi/_body_limit.py", line 80, in __call__
    await self.app(scope, receive, send)
  File "$SITE/starlette/middleware/exceptions.py", line 63, in __call__
    await wrap_app_handling_exceptions(self.app, conn)(scope, receive, send)
  File "$SITE/starlette/_exception_handler.py", line 53, in wrapped_app
    raise exc
  File "$SITE/starlette/_exception_handler.py", line 42, in wrapped_app
    await app(scope, receive, sender)
  File "$SITE/fastapi/middleware/asyncexitstack.py", line 18, in __call__
    await self.app(scope, receive, send)
  File "$SITE/starlette/routing.py", line 683, in __call__
    await self.middleware_stack(scope, receive, send)
  File "$SITE/fastapi/routing.py", line 2929, in app
    await route.handle(scope, receive, send)
  File "$SITE/fastapi/routing.py", line 1375, in handle
    await super().handle(scope, receive, send)
  File "$SITE/starlette/routing.py", line 289, in handle
    await self.app(scope, receive, send)
  File "$SITE/fastapi/routing.py", line 175, in app
    await wrap_app_handling_exceptions(app, request)(scope, receive, send)
  File "$SITE/starlette/_exception_handler.py", line 53, in wrapped_app
    raise exc
  File "$SITE/starlette/_exception_handler.py", line 42, in wrapped_app
    await app(scope, receive, sender)
  File "$SITE/fastapi/routing.py", line 161, in app
    response = await f(request)
               ^^^^^^^^^^^^^^^^
  File "$SITE/fastapi/routing.py", line 762, in app
    raw_response = await run_endpoint_function(
                   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "$SITE/fastapi/routing.py", line 381, in run_endpoint_function
    return await dependant.call(**values)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/app/shop/api/orders.py", line 88, in get_order
    return serialize_order(order)
           ^^^^^^^^^^^^^^^^^^^^^^
  File "/app/shop/api/serializers.py", line 41, in serialize_order
    "shipping": format_address(order["meta"]["shipping_address"]),
                               ~~~~~~~~~~~~~^^^^^^^^^^^^^^^^^^^^
KeyError: 'shipping_address'
""".replace("$SITE", "/app/.venv/lib/python3.12/site-packages")

PY_SIGNUP_TB = """Traceback (most recent call last):
  File "/app/shop/api/accounts.py", line 57, in signup
    user = await users.create(email=form.email, password=form.password)
  File "/app/shop/db/users.py", line 23, in create
    await conn.execute(INSERT_USER, (email, hash_password(password)))
  File "/app/.venv/lib/python3.12/site-packages/psycopg/cursor_async.py", line 97, in execute
    raise ex.with_traceback(None)
psycopg.errors.UniqueViolation: duplicate key value violates unique constraint "users_email_key"
DETAIL:  Key (email)=(ana@example.com) already exists.
"""

PY_INVOICE_TB = """Traceback (most recent call last):
  File "/app/billing/worker.py", line 132, in run_job
    invoice = build_invoice(customer, period)
  File "/app/billing/invoices.py", line 64, in build_invoice
    unit_price = plan.monthly_price / plan.seats
ZeroDivisionError: division by zero
"""

PY_STRIPE_TB = """Traceback (most recent call last):
  File "/app/billing/payments.py", line 45, in charge
    response = await client.post("/v1/payment_intents", data=payload)
  File "/app/.venv/lib/python3.12/site-packages/httpx/_client.py", line 1905, in post
    return await self.request("POST", url, data=data)
  File "/app/.venv/lib/python3.12/site-packages/httpx/_transports/default.py", line 72, in map
    raise mapped_exc(message) from exc
httpx.ReadTimeout: The read operation timed out
"""

PY_LOCKED_TB = """Traceback (most recent call last):
  File "/app/shop/tasks/cleanup.py", line 19, in purge_sessions
    conn.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
sqlite3.OperationalError: database is locked
"""

JS_CART_STACK = """TypeError: Cannot read properties of undefined (reading 'map')
    at CartList (https://shop.example.com/assets/index-4f2a1c.js:112:18)
    at renderWithHooks (https://shop.example.com/assets/vendor-9b1e77.js:2:40112)
    at updateFunctionComponent (https://shop.example.com/assets/vendor-9b1e77.js:2:43541)
    at Array.map (<anonymous>)
"""

JS_CHUNK_STACK = """ChunkLoadError: Loading chunk 812 failed.
(error: https://shop.example.com/assets/812.c1d0e2.js)
    at __webpack_require__.f.j (https://shop.example.com/assets/runtime-3aa1.js:1:2981)
    at https://shop.example.com/assets/runtime-3aa1.js:1:1120
"""

JS_GTAG_STACK = """ReferenceError: gtag is not defined
    at trackSignup (https://example.com/js/main.js:48:5)
    at HTMLFormElement.<anonymous> (https://example.com/js/main.js:91:7)
"""

BROWSER_HEADERS = {
    "User-Agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Referer": "https://shop.example.com/products/linen-shirt",
}


def _server(method: str, url: str, user: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "request_method": method,
        "request_url": url,
        "request_headers": {
            "User-Agent": "okhttp/4.12.0" if "mobile" in extra else "Mozilla/5.0 (X11; Linux)",
            "Accept": "application/json",
            "X-Request-Id": "9f1c2a7e-41d3-4b1e-a7c0-3c2e51f0d8a4",
        },
        "user_id": user,
        "extra": {"environment": "production", "release": "2026.11.3", **extra},
    }


def _browser(url: str, session: str, **extra: Any) -> dict[str, Any]:
    return {
        "request_method": "BROWSER",
        "request_url": url,
        "request_headers": BROWSER_HEADERS,
        "extra": {"session_id": session, "viewport": "1440x900", **extra},
    }


#: (report, occurrences, first seen ago, last seen ago, resolved)
TRACKER_SAMPLES: list[tuple[dict[str, Any], int, timedelta, timedelta, bool]] = [
    (
        {
            "project": "shop-api",
            "exception_type": "KeyError",
            "message": "'shipping_address'",
            "traceback": PY_ORDER_TB,
            **_server(
                "GET",
                "https://api.shop.example.com/v1/orders/48213",
                "user_1842",
                order_id=48213,
                region="eu-west",
            ),
        },
        17,
        timedelta(days=2, hours=3),
        timedelta(minutes=4),
        False,
    ),
    (
        {
            "project": "storefront",
            "exception_type": "TypeError",
            "message": "Cannot read properties of undefined (reading 'map')",
            "traceback": JS_CART_STACK,
            **_browser("https://shop.example.com/cart", "s-7f3a91"),
        },
        41,
        timedelta(hours=6),
        timedelta(minutes=11),
        False,
    ),
    (
        {
            "project": "billing",
            "exception_type": "ZeroDivisionError",
            "message": "division by zero",
            "traceback": PY_INVOICE_TB,
            "extra": {"job": "monthly-invoices", "customer_id": "cus_2931"},
        },
        3,
        timedelta(days=1, hours=1),
        timedelta(hours=2),
        False,
    ),
    (
        {
            "project": "shop-api",
            "exception_type": "psycopg.errors.UniqueViolation",
            "message": 'duplicate key value violates unique constraint "users_email_key"\n'
            "DETAIL:  Key (email)=(ana@example.com) already exists.",
            "traceback": PY_SIGNUP_TB,
            **_server("POST", "https://api.shop.example.com/v1/signup", None, mobile=True),
        },
        6,
        timedelta(days=5),
        timedelta(hours=3),
        False,
    ),
    (
        {
            "project": "storefront",
            "exception_type": "ChunkLoadError",
            "message": "Loading chunk 812 failed.",
            "traceback": JS_CHUNK_STACK,
            **_browser("https://shop.example.com/checkout", "s-02bd44"),
        },
        9,
        timedelta(days=3),
        timedelta(hours=5),
        False,
    ),
    (
        {
            "project": "billing",
            "exception_type": "httpx.ReadTimeout",
            "message": "The read operation timed out",
            "traceback": PY_STRIPE_TB,
            "extra": {"provider": "stripe", "attempt": 3},
        },
        2,
        timedelta(days=8),
        timedelta(hours=20),
        False,
    ),
    (
        {
            "project": "marketing-site",
            "exception_type": "ReferenceError",
            "message": "gtag is not defined",
            "traceback": JS_GTAG_STACK,
            **_browser("https://example.com/pricing", "s-99e0c1"),
        },
        1,
        timedelta(days=1, hours=4),
        timedelta(days=1, hours=4),
        False,
    ),
    (
        {
            "project": "shop-api",
            "exception_type": "sqlite3.OperationalError",
            "message": "database is locked",
            "traceback": PY_LOCKED_TB,
        },
        4,
        timedelta(days=12),
        timedelta(days=6),
        True,
    ),
]


def sample_hourly(times: int, first: datetime, last: datetime) -> str | None:
    """The sparkline's counts for `times` reports between first and last seen,
    crowding towards the last (as an error does once a deploy breaks something)."""
    hourly = None
    for n in range(times):
        moment = first + (last - first) * (1 - ((times - 1 - n) / max(times, 1)) ** 2)
        hourly = bump(hourly, hour_of(format_iso(moment)))
    return hourly


def seed_tracker(url: str, db_path: Path) -> dict[str, int]:
    """Report the sample errors through the API, then spread their times out.

    The API stamps everything "now"; the README should show a lived-in tracker,
    so first/last seen and occurrence times are moved back in the database.
    """
    ids: dict[str, int] = {}
    headers = {"X-API-Key": API_KEY}
    now = datetime.now(UTC).replace(microsecond=0)
    iso = format_iso
    with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
        for report, times, _, _, resolved in TRACKER_SAMPLES:
            for n in range(times):
                body = dict(report)
                if report.get("user_id"):
                    body["user_id"] = f"user_{1842 + n * 37}"
                error_id = client.post("/api/errors", json=body).raise_for_status().json()["id"]
            ids[report["exception_type"]] = error_id
            if resolved:
                client.post(f"/api/errors/{error_id}/resolve").raise_for_status()
    with sqlite3.connect(db_path, timeout=10) as conn:
        for report, _, first_ago, last_ago, resolved in TRACKER_SAMPLES:
            error_id = ids[report["exception_type"]]
            first, last = now - first_ago, now - last_ago
            conn.execute(
                "UPDATE errors SET first_seen = ?, last_seen = ?, resolved_at = ?, hourly = ?"
                " WHERE id = ?",
                (
                    iso(first),
                    iso(last),
                    iso(last + timedelta(hours=1)) if resolved else None,
                    sample_hourly(times, first, last),
                    error_id,
                ),
            )
            occurrence_ids = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM error_occurrences WHERE error_id = ? ORDER BY id DESC",
                    (error_id,),
                )
            ]
            for i, occurrence_id in enumerate(occurrence_ids):
                moment = last - timedelta(minutes=37 * i * i)
                conn.execute(
                    "UPDATE error_occurrences SET timestamp = ? WHERE id = ?",
                    (iso(max(moment, first)), occurrence_id),
                )
    return ids


def sign_in(page: Page, url: str) -> None:
    """Open a UI page and give it the key, as a person does at the prompt."""
    page.goto(url)
    page.fill("#api-key", API_KEY)
    page.click("#key-form button[type=submit]")


def shoot_error_tracker(browser: Browser, out_dir: Path, work_dir: Path) -> list[Path]:
    env = tracker_env(work_dir)
    with ServiceProcess("error_tracker", env) as service:
        ids = seed_tracker(service.url, Path(env["DATABASE_PATH"]))
        page = open_page(browser, viewport={"width": DESKTOP["width"], "height": 560})
        try:
            sign_in(page, service.url + "/")
            page.wait_for_selector(".error-row")
            page.mouse.move(1, 1)  # no hover highlight in the picture
            list_png = out_dir / "error-tracker-list.png"
            page.screenshot(path=str(list_png))
            page.click(f'.error-row[data-id="{ids["KeyError"]}"] .c-message')
            page.wait_for_selector("#traceback")
            detail_png = out_dir / "error-tracker-detail.png"
            page.set_viewport_size({"width": DESKTOP["width"], "height": 1000})
            page.screenshot(path=str(detail_png))
        finally:
            page.context.close()
    return [list_png, detail_png]


# ---- Metrics Collector ----------------------------------------------------------

METRICS_HOURS = 6
#: Server routes with their median latency (ms) and share of traffic.
ROUTES = [
    ("/api/products", 38.0, 0.45),
    ("/api/cart", 52.0, 0.3),
    ("/api/orders", 95.0, 0.15),
    ("/api/checkout", 180.0, 0.1),
]
PAGES = [
    ("/", 1.0),
    ("/products/linen-shirt", 1.25),
    ("/cart", 0.9),
    ("/checkout", 1.5),
    ("/account", 0.8),
]


def metrics_samples(now: datetime) -> list[dict[str, Any]]:
    """Six hours of a small shop: request latencies with an incident, counters, gauges,
    and browser Web Vitals per page. Seeded, so the picture is the same every run."""
    import math
    import random

    rnd = random.Random(20261122)
    points: list[dict[str, Any]] = []
    minutes = METRICS_HOURS * 60
    start = now - timedelta(minutes=minutes)
    for m in range(minutes):
        moment = start + timedelta(minutes=m, seconds=rnd.randint(0, 50))
        ts = iso_z(moment)
        hours_ago = (minutes - m) / 60
        traffic = 1 + 0.35 * math.sin(m / 70)  # busier and quieter stretches
        incident = 1.0 + (2.8 if 2.2 > hours_ago > 1.85 else 0.0)  # a slow database
        for route, median, share in ROUTES:
            for _ in range(max(1, round(90 * share * traffic))):
                value = median * incident * rnd.lognormvariate(0, 0.45)
                if rnd.random() < 0.02:
                    value *= rnd.uniform(3, 8)  # the long tail
                points.append(
                    {
                        "name": "http_request_duration_seconds",
                        "type": "histogram",
                        "value": round(value / 1000, 4),
                        "project": "shop-api",
                        "labels": {
                            "endpoint": route,
                            "method": "GET" if share > 0.2 else "POST",
                        },
                        "timestamp": ts,
                    }
                )
        points.append(
            {
                "name": "http_requests_total",
                "type": "counter",
                "value": round(90 * traffic),
                "project": "shop-api",
                "timestamp": ts,
            }
        )
        points.append(
            {
                "name": "db_query_duration_ms",
                "type": "histogram",
                "value": round(6 * incident * rnd.lognormvariate(0, 0.5), 2),
                "project": "shop-api",
                "timestamp": ts,
            }
        )
        if m % 2 == 0:
            points.append(
                {
                    "name": "queue_depth",
                    "type": "gauge",
                    "project": "worker",
                    "value": max(0, round(4 + 3 * math.sin(m / 25) + rnd.gauss(0, 1))),
                    "labels": {"queue": "emails"},
                    "timestamp": ts,
                }
            )
        if rnd.random() < 0.3 * traffic:
            points.append(
                {
                    "name": "orders_total",
                    "type": "counter",
                    "value": 1,
                    "project": "shop-api",
                    "timestamp": ts,
                }
            )
        for _ in range(rnd.choice((0, 1, 1, 2))):  # page views with their Web Vitals
            page, weight = rnd.choice(PAGES)
            labels = {"source": "browser", "page": page}
            vitals = {
                "lcp": round(1900 * weight * rnd.lognormvariate(0, 0.35)),
                "inp": round(120 * weight * rnd.lognormvariate(0, 0.5)),
                "cls": round(
                    max(0.0, rnd.choice((0.01, 0.02, 0.04, 0.08, 0.15, 0.31)) * weight), 3
                ),
            }
            for short, value in vitals.items():
                points.append(
                    {
                        "name": f"web_vitals_{short}",
                        "type": "histogram",
                        "value": value,
                        "labels": labels,
                        "project": "storefront",
                        "timestamp": ts,
                    }
                )
    return points


def iso_z(moment: datetime) -> str:
    return format_iso(moment)


def shoot_metrics_collector(browser: Browser, out_dir: Path, work_dir: Path) -> list[Path]:
    env = {"API_KEY": API_KEY, "DATABASE_PATH": str(work_dir / "metrics.db")}
    with ServiceProcess("metrics_collector", env) as service:
        points = metrics_samples(datetime.now(UTC).replace(second=0, microsecond=0))
        with httpx.Client(
            base_url=service.url, headers={"X-API-Key": API_KEY}, timeout=30
        ) as client:
            for i in range(0, len(points), 1000):
                client.post("/api/metrics", json=points[i : i + 1000]).raise_for_status()
        page = open_page(browser, viewport={"width": DESKTOP["width"], "height": 900})
        try:
            sign_in(page, service.url + "/?metric=http_request_duration_seconds&period=6h")
            page.wait_for_selector("#pct-chart canvas")
            page.wait_for_selector("#vitals-pages .page-row")
            page.wait_for_selector("#breakdown-table .breakdown-row")
            page.mouse.move(1, 1)  # legends show the latest values, no hover highlight
            png = out_dir / "metrics-collector.png"
            page.screenshot(path=str(png), full_page=True)
        finally:
            page.context.close()
    return [png]


def shoot_log_viewer(browser: Browser, out_dir: Path, work_dir: Path) -> list[Path]:
    from log_viewer.sample import SampleLogs

    root = work_dir / "sample-logs"
    sample = SampleLogs(root, seed=20261202)
    sample.start()  # its worker writes a few minutes of history at once, then a line a second
    env = {
        "API_KEY": API_KEY,
        "DATABASE_PATH": str(work_dir / "logs.db"),
        "LOG_SOURCES": str(root),
        "POLL_INTERVAL": "1",
    }
    try:
        with ServiceProcess("log_viewer", env) as service:
            with httpx.Client(base_url=service.url, headers={"X-API-Key": API_KEY}) as client:
                for _ in range(100):
                    if client.get("/api/logs/stats").json()["total_logs"] > 100:
                        break
                    time.sleep(0.1)
            page = open_page(browser, viewport={"width": DESKTOP["width"], "height": 900})
            try:
                sign_in(page, service.url + "/?range=15m")
                page.wait_for_selector(".log-row")
                page.wait_for_selector("#histogram .hist-seg")
                png = out_dir / "log-viewer.png"
                page.screenshot(path=str(png))
            finally:
                page.context.close()
    finally:
        sample.stop()
    return [png]


# ---- all services -----------------------------------------------------------------

Shooter = Callable[[Browser, Path, Path], list[Path]]
SHOOTERS: dict[str, Shooter] = {
    "error_tracker": shoot_error_tracker,
    "metrics_collector": shoot_metrics_collector,
    "log_viewer": shoot_log_viewer,
}


def main(argv: list[str]) -> int:
    wanted = argv or list(SHOOTERS)
    unknown = [name for name in wanted if name not in SHOOTERS]
    if unknown:
        print(f"unknown service(s): {', '.join(unknown)}; known: {', '.join(SHOOTERS)}")
        return 2
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            for name in wanted:
                with tempfile.TemporaryDirectory(prefix=f"shots-{name}-") as work:
                    for path in SHOOTERS[name](browser, OUT_DIR, Path(work)):
                        print(f"wrote {path.relative_to(ROOT)}")
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
