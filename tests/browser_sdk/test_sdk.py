"""The browser SDK (clients/browser/monlight.js) in headless chromium against a fake relay.

Two real HTTP servers on loopback: the app (pages embedding the SDK) and the relay
(CORS like the real one, scripted statuses, every request recorded). Pages carry a
spy under the SDK that records each fetch/sendBeacon call synchronously, so "sent
nothing" is checked without waiting for time to pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page

from tests.helpers import free_port
from tests.http_servers import ERRORS, METRICS, AppServer, FakeRelay, Recorded, Reply

if TYPE_CHECKING:
    from tests.browser import PageEvents

pytest_plugins = ["tests.browser"]

DSN = "0123456789abcdef0123456789abcdef"
RELEASE = "2026.12.1"
HEX32 = re.compile(r"^[0-9a-f]{32}$")
VITALS = {"web_vitals_lcp", "web_vitals_inp", "web_vitals_cls", "web_vitals_fcp", "web_vitals_ttfb"}

# Under the SDK: records every fetch / sendBeacon call as it is made.
SPY = """
window.__sent = [];
(() => {
  const realFetch = window.fetch;
  window.fetch = function (input, init) {
    __sent.push({via: "fetch", url: String((input && input.url) || input),
                 keepalive: !!(init && init.keepalive)});
    return realFetch.apply(this, arguments);
  };
  const realBeacon = navigator.sendBeacon.bind(navigator);
  navigator.sendBeacon = (url, data) => {
    __sent.push({via: "beacon", url: String(url)});
    return realBeacon(url, data);
  };
})();
"""

# A page function, so that stacks point into the page's own URL.
THROWER = """
window.__throwLater = (message) => setTimeout(function checkout() {
  throw new TypeError(message);
});
"""

# Throws an uncaught error and resolves after the window's error listeners (the SDK's first) ran.
THROW = """(message) => new Promise((resolve) => {
  addEventListener("error", () => setTimeout(resolve), {once: true});
  __throwLater(message);
})"""

# Leaves a promise rejected with `reason` unhandled; resolves after the listeners ran.
REJECT = """(reason) => new Promise((resolve) => {
  addEventListener("unhandledrejection", () => setTimeout(resolve), {once: true});
  Promise.reject(reason === "Error" ? new RangeError("async failure") : reason);
})"""

FIRST_PAINT = "performance.getEntriesByName('first-contentful-paint').length > 0"

HIDE = """() => {
  Object.defineProperty(document, "visibilityState", {value: "hidden", configurable: true});
  document.dispatchEvent(new Event("visibilitychange"));
}"""


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[AppServer, FakeRelay]]:
    app, relay = AppServer(), FakeRelay()
    app.start()
    relay.start()
    relay.allow_origin = app.url
    yield app, relay
    app.stop()
    relay.stop()


@pytest.fixture
def app(servers: tuple[AppServer, FakeRelay]) -> AppServer:
    servers[0].reset()
    servers[0].pages.clear()
    return servers[0]


@pytest.fixture
def relay(servers: tuple[AppServer, FakeRelay]) -> FakeRelay:
    servers[1].reset()
    return servers[1]


def options(relay: FakeRelay, **extra: Any) -> dict[str, Any]:
    # A long flush interval: only the tests about it rely on the timer.
    return {
        "dsn": DSN,
        "endpoint": relay.url + "/",
        "release": RELEASE,
        "environment": "test",
        "flushInterval": 60_000,
        **extra,
    }


def put_page(
    app: AppServer,
    path: str,
    init: dict[str, Any] | None,
    *,
    hooks: str = "{}",
    before: str = "",
    body: str = "<h1>Checkout</h1><p>Some text to paint.</p>",
) -> str:
    """A page loading the SDK (under the spy) and calling Monlight.init(init + hooks)."""
    call = f"Monlight.init(Object.assign({json.dumps(init)}, {hooks}));" if init is not None else ""
    app.pages[path] = (
        '<!doctype html><html><head><meta charset="utf-8"><title>sdk test</title>'
        f"<script>{SPY}{THROWER}{before}</script>"
        '<script src="/sdk/monlight.js"></script>'
        f"<script>{call}</script></head><body>{body}</body></html>"
    )
    return app.url + path


def sdk_calls(page: Page, relay: FakeRelay) -> list[dict[str, Any]]:
    """The fetch/sendBeacon calls made to the relay so far (recorded synchronously)."""
    calls: list[dict[str, Any]] = page.evaluate("() => __sent")
    return [c for c in calls if c["url"].startswith(relay.url)]


def stats(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate("() => Monlight.stats()")
    return result


def deliberate(page_events: PageEvents, *expected: str) -> None:
    """Assert the page's uncaught errors are exactly the test's own, then forget them
    (the `page` fixture fails a test on any uncaught error left)."""
    left = list(page_events.page_errors)
    for text in expected:
        match = next((error for error in left if text in error), None)
        assert match is not None, (text, page_events.page_errors)
        left.remove(match)
    assert left == [], page_events.page_errors
    page_events.page_errors.clear()


def warnings(page: Page) -> list[str]:
    seen: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        if message.type == "warning":
            seen.append(message.text)

    page.on("console", keep)
    return seen


def by_message(records: list[Recorded]) -> dict[str, dict[str, Any]]:
    return {r.json()["message"]: r.json() for r in records}


# ---- errors ---------------------------------------------------------------------------------


def test_uncaught_error_and_rejections_arrive_with_payload_and_key(
    page: Page, page_events: PageEvents, app: AppServer, relay: FakeRelay
) -> None:
    url = put_page(app, "/errors", options(relay))
    page.goto(url + "?step=1#top")
    page.evaluate("Monlight.setUser({id: 42, email: 'ada@example.com'})")
    page.evaluate("Monlight.addContext('plan', 'pro')")
    started = datetime.now(UTC)

    page.evaluate(THROW, "boom from a handler")
    for reason in ("Error", "plain string reason", {"code": 7}, None):
        page.evaluate(REJECT, reason)
    # Playwright passes None as null; undefined needs its own rejection.
    page.evaluate(
        """() => new Promise((resolve) => {
             addEventListener("unhandledrejection", () => setTimeout(resolve), {once: true});
             Promise.reject(undefined);
           })"""
    )

    records = relay.wait_posts(ERRORS, 6)
    assert len(records) == 6
    events = by_message(records)
    assert set(events) == {
        "boom from a handler",
        "async failure",
        "plain string reason",
        '{"code":7}',
        "null",
        "undefined",
    }
    uncaught = events["boom from a handler"]
    assert uncaught["type"] == "TypeError"
    assert "boom from a handler" in uncaught["stack"]
    assert f"at checkout ({url}?step=1:" in uncaught["stack"]
    assert events["async failure"]["type"] == "RangeError"
    assert "async failure" in events["async failure"]["stack"]
    for message in ("plain string reason", '{"code":7}', "null", "undefined"):
        assert events[message]["type"] == "UnhandledRejection"
        assert events[message]["stack"] == ""

    user_agent = page.evaluate("navigator.userAgent")
    for record in records:
        assert record.headers["x-monlight-key"] == DSN
        assert record.content_type == "application/json"
        assert record.headers["origin"] == app.url
        assert record.query == {}
        event = record.json()
        assert set(event) == {
            "type",
            "message",
            "stack",
            "url",
            "user_agent",
            "session_id",
            "release",
            "context",
            "timestamp",
        }
        assert event["url"] == url + "?step=1#top"
        assert event["user_agent"] == user_agent
        assert HEX32.match(event["session_id"])
        assert event["release"] == RELEASE
        assert event["context"] == {
            "user_id": "42",
            "email": "ada@example.com",
            "plan": "pro",
            "environment": "test",
            "level": "error",
        }
        sent_at = datetime.fromisoformat(event["timestamp"])
        assert started.timestamp() - 1 <= sent_at.timestamp() <= datetime.now(UTC).timestamp()
    # The key header made the browser ask first; the fake relay allowed it like the real one.
    preflights = [r for r in relay.records if r.method == "OPTIONS" and r.path == ERRORS]
    assert preflights
    asked = preflights[0].headers["access-control-request-headers"].lower()
    assert "x-monlight-key" in asked
    assert len({r.json()["session_id"] for r in records}) == 1
    # The page keeps its own uncaught errors (the SDK only listens); nothing else was thrown.
    deliberate(
        page_events,
        "boom from a handler",
        "async failure",
        "plain string reason",
        "Object",
        "null",
        "undefined",
    )


def test_capture_error_and_message_init_twice_and_exports(
    page: Page, page_events: PageEvents, app: AppServer, relay: FakeRelay
) -> None:
    url = put_page(app, "/capture", options(relay), before="window.module = {exports: {}};")
    page.goto(url)
    assert page.evaluate("Monlight.VERSION") == "1.0.0"
    assert page.evaluate("module.exports === window.Monlight")
    # A second init (another dsn) changes nothing and adds no second set of listeners.
    page.evaluate(f"Monlight.init({json.dumps(options(relay, dsn='other-key'))})")

    page.evaluate("Monlight.setUser('not an object')")  # ignored, like setUser(null)
    page.evaluate("Monlight.captureError(new SyntaxError('manual'), {order: 7, level: 'x'})")
    page.evaluate("Monlight.captureError('a plain string')")
    page.evaluate("Monlight.captureMessage('checkout started')")
    page.evaluate("Monlight.captureMessage('disk almost full', 'warning')")
    page.evaluate(
        "Monlight.captureError(Object.assign(new Error('x'.repeat(100000)),"
        " {stack: 'Error: big\\n' + '    at f (https://a.example/app.js:1:1)\\n'.repeat(5000)}))"
    )
    page.evaluate(THROW, "once only")

    records = relay.wait_posts(ERRORS, 6)
    assert len(sdk_calls(page, relay)) == 6
    assert {r.headers["x-monlight-key"] for r in records} == {DSN}
    events = by_message(records)
    manual = events["manual"]
    assert manual["type"] == "SyntaxError"
    assert "manual" in manual["stack"]
    # Per-call context joins the event; the SDK's own keys win over it.
    assert manual["context"] == {"order": 7, "environment": "test", "level": "error"}
    assert events["a plain string"]["type"] == "Error"
    assert events["checkout started"]["type"] == "Message"
    assert events["checkout started"]["context"]["level"] == "info"
    assert events["checkout started"]["stack"] == ""
    assert events["disk almost full"]["context"]["level"] == "warning"
    big = next(r for r in records if r.json()["message"].startswith("xxx"))
    event = big.json()
    assert len(event["message"]) == 2048
    assert 15_000 < len(event["stack"]) <= 16_384
    assert len(big.body) < 60_000
    assert events["once only"]["type"] == "TypeError"
    deliberate(page_events, "once only")


def test_same_error_in_a_loop_is_deduplicated(page: Page, app: AppServer, relay: FakeRelay) -> None:
    page.goto(put_page(app, "/dedupe", options(relay)))
    page.evaluate("for (let i = 0; i < 8; i++) Monlight.captureError(new Error('render loop'))")
    assert len(sdk_calls(page, relay)) == 5
    assert stats(page)["dropped"] == 3
    page.evaluate("Monlight.captureError(new Error('another one'))")
    assert len(sdk_calls(page, relay)) == 6
    records = relay.wait_posts(ERRORS, 6)
    messages = sorted(r.json()["message"] for r in records)
    assert messages == ["another one"] + ["render loop"] * 5


def test_before_send_scrubs_drops_and_survives_its_own_exceptions(
    page: Page, app: AppServer, relay: FakeRelay
) -> None:
    hooks = """{beforeSend: (event) => {
      if (event.message.includes("drop me")) return null;
      if (event.message.includes("explode")) throw new Error("bug in beforeSend");
      if (event.message === "recurse") Monlight.captureError(new Error("from beforeSend"));
      event.message = event.message.replace(/\\d{4}-\\d{4}-\\d{4}-\\d{4}/g, "[card]");
      delete event.context.email;
      event.url = location.origin + location.pathname;
      return event;
    }}"""
    url = put_page(app, "/before-send", options(relay), hooks=hooks)
    seen = warnings(page)
    page.goto(url + "?token=secret")
    page.evaluate("Monlight.setUser({id: 'u1', email: 'ada@example.com'})")
    for message in ("paid with 4111-1111-1111-1111", "drop me", "explode", "explode", "recurse"):
        assert page.evaluate(f"Monlight.captureError(new Error({message!r}))") is None

    assert len(sdk_calls(page, relay)) == 2
    numbers = stats(page)
    assert numbers["dropped"] == 3
    assert numbers["beforeSendErrors"] == 2
    records = relay.wait_posts(ERRORS, 2)
    events = by_message(records)
    assert set(events) == {"paid with [card]", "recurse"}
    scrubbed = events["paid with [card]"]
    assert scrubbed["context"] == {"user_id": "u1", "environment": "test", "level": "error"}
    assert scrubbed["url"] == url
    assert "secret" not in records[0].body.decode() + records[1].body.decode()
    assert [w for w in seen if w.startswith("Monlight:")] == ["Monlight: beforeSend threw"]


@pytest.mark.parametrize("setting", [{"sampleRate": 0}, {"enabled": False}])
def test_sample_rate_zero_and_disabled_send_no_errors(
    setting: dict[str, Any],
    page: Page,
    page_events: PageEvents,
    app: AppServer,
    relay: FakeRelay,
) -> None:
    page.goto(put_page(app, "/quiet", options(relay, **setting)))
    page.evaluate(THROW, "quiet failure")
    page.evaluate(REJECT, "Error")
    page.evaluate("Monlight.captureError(new Error('manual'))")
    page.evaluate("Monlight.captureMessage('note')")
    assert sdk_calls(page, relay) == []
    deliberate(page_events, "quiet failure", "async failure")

    page.evaluate("Monlight.metric('cart_size', 3)")
    page.evaluate("() => Monlight.flush()")
    if setting.get("enabled") is False:
        page.evaluate(HIDE)
        assert sdk_calls(page, relay) == []
        assert stats(page)["queued"] == 0
        assert relay.records == []
    else:
        # sampleRate is about errors: metrics still flow.
        (record,) = relay.wait_posts(METRICS)
        assert [p["name"] for p in record.json()["metrics"]] == ["cart_size"]
        assert [c["url"] for c in sdk_calls(page, relay)] == [relay.url + METRICS]
        assert stats(page)["dropped"] == 4


def test_missing_dsn_warns_once_and_stays_disabled(
    page: Page, page_events: PageEvents, app: AppServer, relay: FakeRelay
) -> None:
    url = put_page(app, "/no-dsn", {"endpoint": relay.url})
    seen = warnings(page)
    page.goto(url)
    page.evaluate("Monlight.init({dsn: 'k'}); Monlight.init()")
    page.evaluate("Monlight.captureError(new Error('x')); Monlight.metric('m', 1)")
    page.evaluate(THROW, "not reported")
    page.evaluate(HIDE)
    assert sdk_calls(page, relay) == []
    assert seen == ["Monlight: dsn and endpoint required"]
    deliberate(page_events, "not reported")


# ---- failure handling -----------------------------------------------------------------------


def test_never_throws_into_the_page_when_the_relay_is_unreachable(
    page: Page, page_events: PageEvents, app: AppServer, relay: FakeRelay
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    page.goto(put_page(app, "/unreachable", options(relay, endpoint=closed, maxBatch=2)))
    page.evaluate(THROW, "while offline")
    page.evaluate(REJECT, "Error")
    page.evaluate("Monlight.captureMessage('offline note')")
    page.evaluate("Monlight.metric('a', 1); Monlight.metric('b', 2)")  # maxBatch: a fetch
    page.wait_for_function("Monlight.stats().failed === 4")
    page.evaluate("Monlight.metric('c', 3)")
    page.evaluate(HIDE)  # a beacon to a closed port: nobody knows, nobody throws
    calls: list[dict[str, Any]] = page.evaluate("() => __sent")
    vias = [c["via"] for c in calls if c["url"].startswith(closed)]
    # Hiding sends everything queued (and the vitals) in beacons of maxBatch points.
    assert vias[:4] == ["fetch"] * 4 and vias[4:] and set(vias[4:]) == {"beacon"}
    deliberate(page_events, "while offline", "async failure")


def test_never_throws_into_the_page_when_fetch_and_beacon_fail(
    page: Page, page_events: PageEvents, app: AppServer, relay: FakeRelay
) -> None:
    broken = """
      window.fetch = (url) => String(url).includes("/api/browser/")
        ? Promise.reject(new TypeError("Failed to fetch")) : Promise.resolve(new Response("{}"));
      navigator.sendBeacon = () => { throw new TypeError("beacons are off"); };
    """
    hooks = "{beforeSend: (e) => e}"
    url = put_page(
        app, "/broken", options(relay, captureRequests=True, maxBatch=1), before=broken, hooks=hooks
    )
    page.goto(url)
    result = page.evaluate(
        """async () => {
          const circular = {}; circular.self = circular;
          Monlight.addContext("circular", circular);
          Monlight.captureError(new Error("with a circular context"));
          Monlight.addContext("circular", undefined);
          Monlight.captureError(new Error("sent and rejected"));
          Monlight.captureError();
          Monlight.captureError(null, "not an object");
          Monlight.captureMessage();
          Monlight.metric(null, NaN); Monlight.metric("x", "1"); Monlight.metric("ok", 1, null);
          Monlight.setUser("not an object"); Monlight.setUser(null);
          Monlight.init(42);
          await fetch("/data?q=1");
          await Monlight.flush();
          document.dispatchEvent(new Event("visibilitychange"));
          Object.defineProperty(document, "visibilityState", {value: "hidden", configurable: true});
          document.dispatchEvent(new Event("visibilitychange"));
          dispatchEvent(new PageTransitionEvent("pagehide"));
          return "page still running";
        }"""
    )
    assert result == "page still running"
    page.wait_for_function("Monlight.stats().failed >= 5")
    assert relay.records == []
    assert page_events.page_errors == []


def test_three_401_answers_disable_the_sdk_for_the_page(
    page: Page, app: AppServer, relay: FakeRelay
) -> None:
    relay.script(ERRORS, *[Reply(401, body=b'{"detail": "Invalid DSN key"}')] * 3)
    seen = warnings(page)
    page.goto(put_page(app, "/revoked", options(relay)))
    page.evaluate("['one', 'two', 'three'].forEach((m) => Monlight.captureError(new Error(m)))")
    page.wait_for_function("Monlight.stats().disabled")
    page.evaluate("Monlight.captureError(new Error('four')); Monlight.metric('m', 1)")
    page.evaluate("() => Monlight.flush()")
    page.evaluate(HIDE)
    assert len(sdk_calls(page, relay)) == 3
    assert len(relay.wait_posts(ERRORS, 3)) == 3
    assert "Monlight: key rejected (401): disabled" in seen


def test_a_429_pauses_sending_for_retry_after_or_a_minute(
    page: Page, app: AppServer, relay: FakeRelay
) -> None:
    page.clock.install()  # the page's time flows, and the test can jump it forward
    page.goto(put_page(app, "/limited", options(relay, webVitals=False)))
    limited = Reply(429, {"Retry-After": "30"}, b'{"detail": "Rate limited"}')
    # Retry-After is readable only when the relay exposes it to the page (CORS).
    relay.expose_headers = "Retry-After"
    relay.script(ERRORS, limited)
    page.evaluate("Monlight.captureError(new Error('first'))")
    page.wait_for_function("Monlight.stats().pausedMs > 0")
    assert 25_000 < stats(page)["pausedMs"] <= 30_000
    page.evaluate("Monlight.captureError(new Error('while paused')); Monlight.metric('m', 1)")
    page.evaluate("() => Monlight.flush()")
    assert len(sdk_calls(page, relay)) == 1
    assert stats(page)["queued"] == 1  # metrics wait for the pause to end
    page.clock.fast_forward(31_000)
    assert stats(page)["pausedMs"] == 0
    page.evaluate("Monlight.captureError(new Error('after the pause'))")
    page.evaluate("() => Monlight.flush()")
    assert len(sdk_calls(page, relay)) == 3
    assert relay.wait_posts(METRICS)[0].json()["metrics"][0]["name"] == "m"

    # Without Access-Control-Expose-Headers the header is invisible: a minute.
    relay.expose_headers = ""
    relay.script(ERRORS, limited)
    page.evaluate("Monlight.captureError(new Error('second limit'))")
    page.wait_for_function("Monlight.stats().pausedMs > 0")
    assert 55_000 < stats(page)["pausedMs"] <= 60_000
    page.evaluate("Monlight.captureError(new Error('dropped'))")
    assert len(sdk_calls(page, relay)) == 4
    page.clock.fast_forward(61_000)
    page.evaluate("Monlight.captureError(new Error('a minute later'))")
    assert len(sdk_calls(page, relay)) == 5
    messages = sorted(r.json()["message"] for r in relay.wait_posts(ERRORS, 4))
    assert messages == ["a minute later", "after the pause", "first", "second limit"]
    assert stats(page)["dropped"] == 2


# ---- metrics --------------------------------------------------------------------------------


def test_metrics_flush_at_max_batch_and_on_the_interval(
    page: Page, app: AppServer, relay: FakeRelay
) -> None:
    url = put_page(app, "/batch", options(relay, maxBatch=3, webVitals=False))
    page.goto(url + "?secret=1")
    page.evaluate("Monlight.metric('cart_size', 2, {type: 'gauge', labels: {step: 'pay'}})")
    page.evaluate("Monlight.metric('clicks', 1, {type: 'counter'}); Monlight.metric('nan', NaN)")
    assert sdk_calls(page, relay) == []
    page.evaluate("Monlight.metric('render_ms', 12.5, {type: 'histogram', labels: {view: 'cart'}})")
    assert [c["via"] for c in sdk_calls(page, relay)] == ["fetch"]
    (record,) = relay.wait_posts(METRICS)
    assert record.headers["x-monlight-key"] == DSN
    assert record.content_type == "application/json"
    assert record.query == {}
    body = record.json()
    assert set(body) == {"metrics", "session_id", "url"}
    assert body["url"] == url  # no query, no fragment
    assert HEX32.match(body["session_id"])
    points = body["metrics"]
    assert [(p["name"], p["type"], p["value"], p["labels"]) for p in points] == [
        ("cart_size", "gauge", 2, {"step": "pay"}),
        ("clicks", "counter", 1, {}),
        ("render_ms", "histogram", 12.5, {"view": "cart"}),
    ]
    for point in points:
        assert set(point) == {"name", "type", "value", "labels", "timestamp"}
        datetime.fromisoformat(point["timestamp"])

    # The timer flushes a partial batch; an unknown type becomes a gauge.
    relay.reset()
    page.goto(put_page(app, "/interval", options(relay, flushInterval=200, webVitals=False)))
    page.evaluate("Monlight.metric('queue_depth', 4, {type: 'weird'})")
    (record,) = relay.wait_posts(METRICS, timeout=5)
    assert record.json()["metrics"][0]["type"] == "gauge"


def test_hidden_page_flushes_by_beacon_with_the_key_in_the_query(
    page: Page, app: AppServer, relay: FakeRelay
) -> None:
    url = put_page(app, "/beacon", options(relay))
    page.goto(url)
    page.evaluate("Monlight.metric('cart_size', 2); Monlight.metric('cart_size', 3)")
    page.evaluate(HIDE)
    page.evaluate(HIDE)  # a second hide: nothing queued, vitals already sent
    assert [c["via"] for c in sdk_calls(page, relay)] == ["beacon"]
    (beacon,) = relay.wait_posts(METRICS)
    assert beacon.query == {"key": [DSN]}
    assert beacon.content_type.startswith("text/plain")
    assert "x-monlight-key" not in beacon.headers
    body = beacon.json()
    assert body["url"] == url
    assert HEX32.match(body["session_id"])
    names = [p["name"] for p in body["metrics"]]
    assert names[:2] == ["cart_size", "cart_size"]
    assert set(names[2:]) <= VITALS and "web_vitals_ttfb" in names

    # Navigating away (the real thing): pagehide sends what is queued, no vitals again.
    page.evaluate("Monlight.metric('before_leaving', 1)")
    page.goto(app.url + "/blank")
    beacons = relay.wait_posts(METRICS, 2)
    last = beacons[1]
    assert last.query == {"key": [DSN]}
    assert [p["name"] for p in last.json()["metrics"]] == ["before_leaving"]
    # text/plain is CORS-safelisted: no preflight for any of it.
    assert not [r for r in relay.records if r.method == "OPTIONS"]


@pytest.mark.parametrize("beacon", ["returns false", "missing"])
def test_beacon_failure_falls_back_to_fetch_keepalive(
    beacon: str, page: Page, app: AppServer, relay: FakeRelay
) -> None:
    patch = (
        "navigator.sendBeacon = () => false;"
        if beacon == "returns false"
        else "delete Navigator.prototype.sendBeacon; delete navigator.sendBeacon;"
    )
    page.goto(put_page(app, "/fallback", options(relay, webVitals=False), before=patch))
    page.evaluate("Monlight.metric('cart_size', 2)")
    page.evaluate(HIDE)
    calls = sdk_calls(page, relay)
    assert [(c["via"], c["keepalive"]) for c in calls] == [("fetch", True)]
    (record,) = relay.wait_posts(METRICS)
    assert record.query == {}
    assert record.headers["x-monlight-key"] == DSN
    assert record.content_type == "application/json"
    assert [p["name"] for p in record.json()["metrics"]] == ["cart_size"]


VITALS_PAGE = """
<h1>Order summary</h1>
<p>Three items, shipping tomorrow.</p>
<img src="/image.svg" width="400" height="200" alt="">
<div id="late"></div>
<button id="buy" onclick="const t = performance.now(); while (performance.now() - t < 120) {}">
  Buy
</button>
<script>
  // Test-side observers: the test waits on what the browser reported, never on time.
  window.__seen = {lcp: false, shift: false, interaction: false};
  new PerformanceObserver(() => { __seen.lcp = true; })
    .observe({type: "largest-contentful-paint", buffered: true});
  new PerformanceObserver(() => { __seen.shift = true; })
    .observe({type: "layout-shift", buffered: true});
  new PerformanceObserver((list) => {
    if (list.getEntries().some((e) => e.interactionId)) __seen.interaction = true;
  }).observe({type: "event", buffered: true, durationThreshold: 16});
  // A late banner above the content: a layout shift without input.
  requestAnimationFrame(() => setTimeout(() => {
    const banner = document.createElement("div");
    banner.style.height = "120px";
    banner.textContent = "Free shipping today";
    document.body.prepend(banner);
  }, 50));
</script>
"""


def test_web_vitals_are_sent_once_when_leaving_the_page(
    page: Page, app: AppServer, relay: FakeRelay
) -> None:
    page.goto(put_page(app, "/vitals", options(relay), body=VITALS_PAGE))
    page.wait_for_function("__seen.lcp && __seen.shift")
    page.click("#buy")
    page.wait_for_function("__seen.interaction")
    page.goto(app.url + "/blank")

    (beacon,) = relay.wait_posts(METRICS)
    assert beacon.query == {"key": [DSN]}
    points = beacon.json()["metrics"]
    values = {p["name"]: p["value"] for p in points}
    assert sorted(p["name"] for p in points) == sorted(VITALS)  # each exactly once
    assert {p["type"] for p in points} == {"histogram"}
    assert {json.dumps(p["labels"]) for p in points} == {"{}"}
    assert 0 <= values["web_vitals_ttfb"] <= values["web_vitals_fcp"]
    assert values["web_vitals_fcp"] <= values["web_vitals_lcp"] < 10_000
    assert 0 < values["web_vitals_cls"] < 1
    assert values["web_vitals_inp"] >= 120  # the click handler's busy loop


def test_vitals_the_browser_never_measured_are_not_sent(
    page: Page, app: AppServer, relay: FakeRelay
) -> None:
    page.goto(put_page(app, "/idle", options(relay)))
    page.wait_for_function(FIRST_PAINT)
    page.evaluate(HIDE)  # no interaction happened: no INP
    (beacon,) = relay.wait_posts(METRICS)
    names = {p["name"] for p in beacon.json()["metrics"]}
    assert "web_vitals_inp" not in names
    assert {"web_vitals_ttfb", "web_vitals_fcp", "web_vitals_cls"} <= names

    # A browser without PerformanceObserver: TTFB only, and nothing breaks.
    relay.reset()
    gone = "delete window.PerformanceObserver;"
    page.goto(put_page(app, "/old-browser", options(relay), before=gone))
    page.evaluate(HIDE)
    (beacon,) = relay.wait_posts(METRICS)
    assert [p["name"] for p in beacon.json()["metrics"]] == ["web_vitals_ttfb"]


def test_capture_requests_times_fetch_and_xhr_without_urls(
    page: Page, app: AppServer, relay: FakeRelay
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    url = put_page(app, "/requests", options(relay, captureRequests=True, webVitals=False))
    page.goto(url)
    page.evaluate("Monlight.captureError(new Error('own request'))")
    relay.wait_posts(ERRORS)
    page.evaluate(
        f"""async () => {{
          await fetch("/data?token=secret-1");
          await fetch(new Request("/data?token=secret-2", {{method: "POST", body: "x"}}));
          await fetch("/missing?token=secret-3");
          await fetch("{closed}/data?token=secret-4").catch(() => null);
          await new Promise((resolve) => {{
            const xhr = new XMLHttpRequest();
            xhr.open("put", "/data?token=secret-5");
            xhr.onloadend = resolve;
            xhr.send("y");
          }});
        }}"""
    )
    assert stats(page)["queued"] == 5
    page.evaluate("() => Monlight.flush()")
    assert stats(page)["queued"] == 0  # the flush itself was not timed
    (record,) = relay.wait_posts(METRICS)
    assert "secret" not in record.body.decode()
    points = record.json()["metrics"]
    app_host = app.url.removeprefix("http://")
    closed_host = closed.removeprefix("http://")
    assert sorted(
        (p["labels"]["method"], p["labels"]["host"], p["labels"]["status"]) for p in points
    ) == sorted(
        [
            ("GET", app_host, "2xx"),
            ("POST", app_host, "2xx"),
            ("GET", app_host, "4xx"),
            ("GET", closed_host, "error"),
            ("PUT", app_host, "2xx"),
        ]
    )
    for point in points:
        assert point["name"] == "http_client_duration_ms"
        assert point["type"] == "histogram"
        assert set(point["labels"]) == {"method", "host", "status"}
        assert 0 <= point["value"] < 5000


# ---- session --------------------------------------------------------------------------------


def session_of(page: Page, relay: FakeRelay, message: str) -> str:
    page.evaluate(f"Monlight.captureMessage({message!r})")
    records = relay.wait_for(
        lambda rs: [r for r in relay.posts(ERRORS)(rs) if r.json()["message"] == message],
        what=message,
    )
    session: str = records[0].json()["session_id"]
    return session


def test_session_id_is_stable_in_a_tab_and_distinct_across_tabs(
    browser: Browser, page: Page, app: AppServer, relay: FakeRelay
) -> None:
    url = put_page(app, "/session", options(relay))
    page.goto(url)
    first = session_of(page, relay, "first load")
    assert HEX32.match(first)
    page.reload()
    assert session_of(page, relay, "after reload") == first

    other = browser.new_context()
    try:
        other_page = other.new_page()
        other_page.goto(url)
        second = session_of(other_page, relay, "another tab")
        assert HEX32.match(second) and second != first
    finally:
        other.close()

    # Storage that throws (privacy modes, sandboxed frames): a per-page id, the SDK works.
    locked = browser.new_context()
    try:
        locked.add_init_script(
            "Object.defineProperty(window, 'sessionStorage', "
            "{get() { throw new DOMException('denied', 'SecurityError'); }})"
        )
        locked_page = locked.new_page()
        errors: list[str] = []
        locked_page.on("pageerror", lambda exc: errors.append(str(exc)))
        locked_page.goto(url)
        third = session_of(locked_page, relay, "no storage")
        assert HEX32.match(third) and third not in (first, second)
        assert errors == []
    finally:
        locked.close()
