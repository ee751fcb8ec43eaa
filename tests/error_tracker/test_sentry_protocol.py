"""Sentry SDKs report into the tracker over HTTP: the real `sentry-sdk` with its own
transport (gzip on, its default), DSN keys made, listed and revoked, and the bad
input an internet-facing endpoint gets (#15, part)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sentry_sdk

from tests.helpers import ServiceProcess, tracker_env, wait_until

KEY = "test-key"
AUTH = {"X-API-Key": KEY}
SEEDED = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def tracker(tmp_path: Path) -> Iterator[ServiceProcess]:
    env = tracker_env(tmp_path, SENTRY_DSN_KEYS=f"shop:{SEEDED}")
    with ServiceProcess("error_tracker", env) as running:
        yield running


def errors(tracker: ServiceProcess, project: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{tracker.url}/api/errors", params={"project": project}, headers=AUTH)
    return r.json()["errors"]  # type: ignore[no-any-return]


def fail_checkout() -> None:
    try:
        {"tea": 1}["coffee"]
    except KeyError as exc:
        raise RuntimeError("checkout failed") from exc


def test_the_real_sdk_reports_with_its_own_transport(tracker: ServiceProcess) -> None:
    port = tracker.url.rsplit(":", 1)[1]
    sentry_sdk.init(dsn=f"http://{SEEDED}@127.0.0.1:{port}/1", default_integrations=False)
    try:
        sentry_sdk.set_user({"id": "u-7"})
        sentry_sdk.set_tag("region", "eu")
        try:
            fail_checkout()
        except RuntimeError as exc:
            sentry_sdk.capture_exception(exc)
        sentry_sdk.capture_message("cart is slow")
        sentry_sdk.flush(timeout=10)
    finally:
        sentry_sdk.get_client().close()
    wait_until(lambda: len(errors(tracker, "shop")) == 2, what="both events in the tracker")
    groups = {e["exception_type"]: e for e in errors(tracker, "shop")}
    assert set(groups) == {"RuntimeError", "Message (info)"}
    crash = groups["RuntimeError"]
    assert crash["message"] == "checkout failed" and crash["culprit"].endswith("in fail_checkout")
    detail = httpx.get(f"{tracker.url}/api/errors/{crash['id']}", headers=AUTH).json()
    assert "The above exception was the direct cause" in detail["traceback"]
    (occurrence,) = detail["occurrences"]
    assert occurrence["user_id"] == "u-7" and occurrence["extra"]["tags"] == {"region": "eu"}


def test_dsn_keys_are_made_listed_and_revoked(tracker: ServiceProcess) -> None:
    made = httpx.post(f"{tracker.url}/api/dsn", json={"project": "web"}, headers=AUTH)
    assert made.status_code == 201
    web = made.json()
    assert web["project"] == "web" and web["project_id"] == 2  # "shop" was seeded first
    assert web["dsn"] == f"http://{web['public_key']}@{tracker.url.split('//')[1]}/2"
    listed = httpx.get(f"{tracker.url}/api/dsn", headers=AUTH).json()["dsns"]
    assert [(d["project"], d["active"]) for d in listed] == [("shop", True), ("web", True)]
    assert httpx.post(f"{tracker.url}/api/dsn", json={}, headers=AUTH).status_code == 400
    assert httpx.get(f"{tracker.url}/api/dsn").status_code == 401  # the API key guards it

    event = b'{"event_id":"abc","message":"hello"}'
    store = f"{tracker.url}/api/2/store/?sentry_key={web['public_key']}"
    assert httpx.post(store, content=event).json() == {"id": "abc"}
    # The key of another project, an unknown key, no key: Sentry's 401.
    other = f"{tracker.url}/api/2/store/?sentry_key={SEEDED}"
    for url in (
        other,
        f"{tracker.url}/api/2/store/?sentry_key=nope",
        f"{tracker.url}/api/2/store/",
    ):
        r = httpx.post(url, content=event)
        assert r.status_code == 401 and "detail" in r.json()
    gone = httpx.delete(f"{tracker.url}/api/dsn/2/{web['public_key']}", headers=AUTH)
    assert gone.json() == {"status": "revoked"}
    assert httpx.post(store, content=event).status_code == 401
    assert httpx.delete(f"{tracker.url}/api/dsn/2/nope", headers=AUTH).status_code == 404


def envelope(*items: bytes, dsn: str | None = None) -> bytes:
    header = b'{"event_id":"e1"%s}\n' % (f',"dsn":"{dsn}"'.encode() if dsn else b"")
    return header + b"".join(items)


def item(kind: str, payload: bytes) -> bytes:
    return b'{"type":"%s","length":%d}\n%s\n' % (kind.encode(), len(payload), payload)


def test_hostile_envelopes_get_a_4xx_or_a_counted_drop(tracker: ServiceProcess) -> None:
    url = f"{tracker.url}/api/1/envelope/"
    auth = {"X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={SEEDED}"}
    good = item("event", b'{"message":"kept"}')
    # Invalid JSON in one item, a session, a truncated last item: the good event lands.
    body = envelope(item("event", b"{not json"), item("session", b"{}"), good)
    body += b'{"type":"event","length":500}\n{"mess'
    r = httpx.post(url, content=gzip.compress(body), headers={**auth, "Content-Encoding": "gzip"})
    assert r.status_code == 200 and r.json() == {"id": "e1"}
    wait_until(lambda: [e["message"] for e in errors(tracker, "shop")] == ["kept"], what="kept")
    # The key in the envelope header's dsn works too.
    dsn = f"http://{SEEDED}@example.com/1"
    assert httpx.post(url, content=envelope(good, dsn=dsn)).status_code == 200
    bomb = gzip.compress(envelope(item("event", b'{"message":"' + b"a" * 10_000_000 + b'"}')))
    r = httpx.post(url, content=bomb, headers={**auth, "Content-Encoding": "gzip"})
    assert r.status_code == 413 and "detail" in r.json()
    assert httpx.post(url, content=b"\xff\xfe garbage", headers=auth).status_code == 400
    r = httpx.post(url, content=b"x", headers={**auth, "Content-Encoding": "gzip"})
    assert r.status_code == 400
    assert (
        httpx.post(
            f"{tracker.url}/api/2/envelope/", content=envelope(good), headers=auth
        ).status_code
        == 401
    )
    assert httpx.get(f"{tracker.url}/health").status_code == 200  # never a 500
    listed = httpx.get(f"{tracker.url}/api/dsn", headers=AUTH).json()
    assert listed["dropped"] == {  # what was not kept is counted
        "an event that is not a JSON object": 1,
        "session": 1,
        "event item cut short": 1,
    }


SENTRY_FASTAPI_APP = """
import sys

import sentry_sdk
import uvicorn
from fastapi import FastAPI

sentry_sdk.init(dsn=sys.argv[1], traces_sample_rate=0)
app = FastAPI()
COUPONS = {"WELCOME10": 10}


@app.get("/coupons/{code}")
def coupon(code: str) -> dict[str, int]:
    return {"percent_off": COUPONS[code]}


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def test_the_sdks_fastapi_integration_on_a_real_app(
    tracker: ServiceProcess, tmp_path: Path
) -> None:
    """sentry-sdk's own FastAPI integration (on by default): the request comes along."""
    import subprocess
    import sys

    from tests.helpers import free_port

    port = free_port()
    dsn = f"http://{SEEDED}@{tracker.url.split('//')[1]}/1"
    log = (tmp_path / "app.log").open("wb")
    app = subprocess.Popen(
        [sys.executable, "-c", SENTRY_FASTAPI_APP, dsn, str(port)], stdout=log, stderr=log
    )
    try:

        def up() -> bool:
            assert app.poll() is None, (tmp_path / "app.log").read_text()
            try:
                return httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1).is_success
            except httpx.TransportError:
                return False

        wait_until(up, what="the FastAPI app")
        assert httpx.get(f"http://127.0.0.1:{port}/coupons/NOPE").status_code == 500
        wait_until(lambda: errors(tracker, "shop"), what="the error in the tracker")
    finally:
        app.terminate()
        app.wait(10)
        log.close()
    (group,) = errors(tracker, "shop")
    assert group["exception_type"] == "KeyError" and group["culprit"].endswith("in coupon")
    detail = httpx.get(f"{tracker.url}/api/errors/{group['id']}", headers=AUTH).json()
    (occurrence,) = detail["occurrences"]
    assert occurrence["request_method"] == "GET"
    assert occurrence["request_url"].endswith("/coupons/NOPE")
    assert occurrence["extra"]["sdk"].startswith("sentry.python")
    # The app's own frame is there, the framework's fold away on the page.
    frames = detail["traceback_frames"]
    assert any(f["culprit"] for f in frames) and not all(f["in_app"] for f in frames)


NODE_APP = Path(__file__).parent / "sentry_node" / "app.js"


def test_the_real_sentry_node_sdk_reports_too(tracker: ServiceProcess) -> None:
    """Must-show 3: a Sentry SDK of another language (@sentry/node, `make test` installs
    it with npm ci) reports an error by its DSN alone."""
    import subprocess

    dsn = f"http://{SEEDED}@{tracker.url.split('//')[1]}/1"
    done = subprocess.run(["node", str(NODE_APP), dsn], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    wait_until(lambda: errors(tracker, "shop"), what="the Node error in the tracker")
    (group,) = errors(tracker, "shop")
    assert (group["exception_type"], group["message"]) == ("TypeError", "no price for coffee")
    assert group["culprit"].endswith("sentry_node/app.js:8 in priceOf")
    detail = httpx.get(f"{tracker.url}/api/errors/{group['id']}", headers=AUTH).json()
    assert detail["traceback"].startswith("TypeError: no price for coffee\n    at priceOf (")
    # Node's own frames (node:internal/...) are library frames.
    assert [f["in_app"] for f in detail["traceback_frames"]][-1] is False


def test_a_failed_cron_check_in_is_an_error_of_its_monitor(tracker: ServiceProcess) -> None:
    from sentry_sdk.crons import capture_checkin

    port = tracker.url.rsplit(":", 1)[1]
    sentry_sdk.init(dsn=f"http://{SEEDED}@127.0.0.1:{port}/1", default_integrations=False)
    try:
        capture_checkin(monitor_slug="nightly-invoices", status="in_progress")
        capture_checkin(monitor_slug="nightly-invoices", status="ok", duration=12.0)
        for took in (3.5, 4.25):
            capture_checkin(monitor_slug="nightly-invoices", status="error", duration=took)
        sentry_sdk.flush(timeout=10)
    finally:
        sentry_sdk.get_client().close()
    wait_until(
        lambda: [e["count"] for e in errors(tracker, "shop")] == [2], what="one group, two failures"
    )
    (group,) = errors(tracker, "shop")
    assert group["exception_type"] == "CheckInFailed"
    assert group["message"] == "Monitor 'nightly-invoices' checked in with an error after 3.5 s"
