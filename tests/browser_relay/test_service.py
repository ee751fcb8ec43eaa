"""The relay's API over HTTP, forwarding to a real Error Tracker and Metrics Collector."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.testclient import TestClient

from browser_relay import SERVICE
from browser_relay.database import MIGRATIONS
from tests.browser_relay.relay import ADMIN, UPSTREAM_KEY, relay_env
from tests.helpers import ServiceProcess, collector_env, tracker_env

UPSTREAM = {"X-API-Key": UPSTREAM_KEY}
AS_ADMIN = {"X-API-Key": ADMIN}


@pytest.fixture(scope="module")
def tracker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    with ServiceProcess("error_tracker", tracker_env(tmp_path_factory.mktemp("t"))) as proc:
        yield proc


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    env = collector_env(tmp_path_factory.mktemp("c"), AGGREGATION_INTERVAL="1")
    with ServiceProcess("metrics_collector", env) as proc:
        yield proc


def make_relay(tmp_path: Path, tracker: ServiceProcess, collector: ServiceProcess, **env: str):
    settings = SERVICE.load(relay_env(tmp_path, tracker.url, collector.url, **env))
    return TestClient(SERVICE.app(settings))


@pytest.fixture
def relay(
    tmp_path: Path, tracker: ServiceProcess, collector: ServiceProcess
) -> Iterator[TestClient]:
    with make_relay(tmp_path, tracker, collector) as c:
        yield c


def new_key(relay: TestClient, project: str) -> str:
    r = relay.post("/api/dsn-keys", json={"project": project}, headers=AS_ADMIN)
    assert r.status_code == 201, r.text
    return str(r.json()["public_key"])


def tracker_errors(tracker: ServiceProcess, **params: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{tracker.url}/api/errors", params=params, headers=UPSTREAM)
    return list(r.json()["errors"])


def raw_points(collector: ServiceProcess, name: str) -> list[dict[str, Any]]:
    db = sqlite3.connect(collector.env["DATABASE_PATH"])
    try:
        rows = db.execute(
            "SELECT labels, value, project FROM metrics_raw WHERE name = ?", (name,)
        ).fetchall()
    finally:
        db.close()
    return [{"labels": orjson.loads(r[0] or "{}"), "value": r[1], "project": r[2]} for r in rows]


# -- keys -----------------------------------------------------------------------


def test_dsn_keys_are_random_listed_and_deactivated_softly(relay: TestClient) -> None:
    key = new_key(relay, "shop")
    other = new_key(relay, "shop")
    assert len(key) == 32 and int(key, 16) >= 0 and key != other
    listed = relay.get("/api/dsn-keys", headers=AS_ADMIN).json()["keys"]
    mine = next(k for k in listed if k["public_key"] == key)
    assert mine["project"] == "shop" and mine["active"] is True
    assert mine["created_at"].endswith("Z") and set(mine) == {
        "id",
        "public_key",
        "project",
        "active",
        "created_at",
    }
    error = {"type": "Error", "message": "m"}
    gone = relay.delete(f"/api/dsn-keys/{mine['id']}", headers=AS_ADMIN)
    assert gone.status_code == 200 and gone.json() == {"status": "deactivated"}
    r = relay.post("/api/browser/errors", json=error, headers={"X-Monlight-Key": key})
    assert r.status_code == 401 and r.json() == {"detail": "Invalid DSN key"}
    listed = relay.get("/api/dsn-keys", headers=AS_ADMIN).json()["keys"]
    assert next(k for k in listed if k["public_key"] == key)["active"] is False
    assert relay.delete("/api/dsn-keys/99999", headers=AS_ADMIN).status_code == 404
    assert relay.delete("/api/dsn-keys/abc", headers=AS_ADMIN).status_code == 404


def test_admin_and_browser_routes_take_their_own_keys(relay: TestClient) -> None:
    key = new_key(relay, "shop")
    assert relay.get("/api/dsn-keys", headers={"X-API-Key": key}).status_code == 401
    assert relay.get("/api/source-maps", params={"api_key": key}).status_code == 401
    for path in ("/api/browser/errors", "/api/browser/metrics"):
        for headers in ({"X-Monlight-Key": ADMIN}, AS_ADMIN, {}):
            r = relay.post(path, json={"type": "E", "message": "m"}, headers=headers)
            assert r.status_code == 401, (path, headers)
    assert relay.post("/api/dsn-keys", json={"project": ""}, headers=AS_ADMIN).status_code == 400
    assert relay.post("/api/dsn-keys", json={}, headers=AS_ADMIN).status_code == 400


def test_dsn_keys_env_seeds_keys_once(
    tmp_path: Path, tracker: ServiceProcess, collector: ServiceProcess
) -> None:
    seeded = "dsn_keys=shop:shopkey12345678,blog:blogkey12345678"
    env = {"DSN_KEYS": seeded.split("=", 1)[1]}
    for run in range(2):  # a restart adds nothing twice
        with make_relay(tmp_path, tracker, collector, **env) as relay:
            keys = relay.get("/api/dsn-keys", headers=AS_ADMIN).json()["keys"]
            assert [(k["project"], k["public_key"]) for k in keys] == [
                ("shop", "shopkey12345678"),
                ("blog", "blogkey12345678"),
            ]
            ok = relay.post(
                "/api/browser/errors",
                json={"type": "SeedCheck", "message": "seeded"},
                headers={"X-Monlight-Key": "blogkey12345678"},
            )
            assert ok.status_code == (201, 200)[run], ok.text


def test_junk_keys_never_use_up_a_real_keys_budget(
    tmp_path: Path, tracker: ServiceProcess, collector: ServiceProcess
) -> None:
    with make_relay(tmp_path, tracker, collector) as relay:  # RATE_LIMIT 300, the default
        key = new_key(relay, "shop")
        junk = [
            relay.post(
                "/api/browser/metrics",
                content=b"{}",
                headers={"X-Monlight-Key": f"junk{i:028d}"},
            ).status_code
            for i in range(300)
        ]
        assert set(junk) == {401}
        assert (
            relay.post(
                "/api/browser/metrics", content=b"{}", headers={"X-Monlight-Key": "junk"}
            ).status_code
            == 429
        )
        batch = {"metrics": [{"name": "junk_check", "type": "counter", "value": 1}]}
        r = relay.post("/api/browser/metrics", json=batch, headers={"X-Monlight-Key": key})
        assert r.status_code == 202, r.text


def test_a_key_over_its_budget_gets_429_with_retry_after(
    tmp_path: Path, tracker: ServiceProcess, collector: ServiceProcess
) -> None:
    with make_relay(tmp_path, tracker, collector, RATE_LIMIT="3") as relay:
        key = new_key(relay, "shop")
        error = {"type": "Budget", "message": "m"}
        codes = [
            relay.post("/api/browser/errors", json=error, headers={"X-Monlight-Key": key})
            for _ in range(4)
        ]
        assert [c.status_code for c in codes[:3]] == [201, 200, 200]
        assert codes[3].status_code == 429 and int(codes[3].headers["retry-after"]) >= 1


# -- forwarding -------------------------------------------------------------------


def test_a_browser_error_reaches_the_tracker_marked_as_from_a_browser(
    relay: TestClient, tracker: ServiceProcess
) -> None:
    key = new_key(relay, "storefront")
    report = {
        "type": "TypeError",
        "message": "<img src=x onerror=alert(1)> is not a function",
        "stack": "TypeError: boom\n    at go (https://shop.example.com/a.js:1:10)",
        "url": "https://shop.example.com/cart",
        "user_agent": "Mozilla/5.0 (X11)",
        "session_id": "sess-1",
        "context": {"user_id": "u-1"},
    }
    r = relay.post("/api/browser/errors", json=report, headers={"X-Monlight-Key": key})
    assert r.status_code == 201 and r.json()["status"] == "created"
    again = relay.post("/api/browser/errors", json=report, headers={"X-Monlight-Key": key})
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    (listed,) = tracker_errors(tracker, project="storefront", source="browser")
    assert listed["exception_type"] == "TypeError" and listed["count"] == 2
    detail = httpx.get(f"{tracker.url}/api/errors/{listed['id']}", headers=UPSTREAM).json()
    occurrence = detail["occurrences"][0]
    assert occurrence["request_method"] == "BROWSER"
    assert occurrence["user_id"] == "u-1"
    assert occurrence["extra"]["session_id"] == "sess-1"
    assert "original_stack" not in occurrence["extra"]  # no release: nothing was mapped


def test_beacon_style_requests_key_in_query_any_content_type(
    relay: TestClient, collector: ServiceProcess
) -> None:
    key = new_key(relay, "beacons")
    batch = {
        "metrics": [{"name": "web_vitals_lcp", "type": "histogram", "value": 1834.5}],
        "session_id": "tab-9",
        "url": "https://shop.example.com/product/7?ref=mail",
    }
    r = relay.post(
        f"/api/browser/metrics?key={key}",
        content=orjson.dumps(batch),
        headers={"Content-Type": "text/plain;charset=UTF-8"},
    )
    assert r.status_code == 202 and r.json() == {"status": "accepted", "count": 1}
    r = relay.post(
        "/api/browser/metrics",
        json={"metrics": [{"name": "web_vitals_cls", "type": "histogram", "value": 0.03}]},
        headers={"X-Monlight-Key": key},
    )
    assert r.status_code == 202
    (lcp,) = raw_points(collector, "web_vitals_lcp")
    assert lcp["labels"] == {
        "project": "beacons",
        "source": "browser",
        "session_id": "tab-9",
        "page": "/product/7",
    }
    assert lcp["project"] == "beacons" and lcp["value"] == 1834.5
    (cls,) = raw_points(collector, "web_vitals_cls")
    assert cls["labels"] == {"project": "beacons", "source": "browser"}


def test_the_collectors_4xx_is_passed_back(relay: TestClient) -> None:
    key = new_key(relay, "shop")
    bad = {"metrics": [{"name": "x", "type": "summary", "value": 1}]}
    r = relay.post("/api/browser/metrics", json=bad, headers={"X-Monlight-Key": key})
    assert r.status_code == 400 and "type" in r.json()["detail"]


def test_upstream_down_is_a_prompt_502_and_forwarding_resumes(
    tmp_path: Path, collector: ServiceProcess
) -> None:
    down = ServiceProcess("error_tracker", tracker_env(tmp_path / "t"))
    (tmp_path / "t").mkdir()
    down.start()
    with make_relay(tmp_path, down, collector) as relay:
        key = new_key(relay, "outage")
        error = {"type": "Outage", "message": "m"}
        headers = {"X-Monlight-Key": key}
        assert relay.post("/api/browser/errors", json=error, headers=headers).status_code == 201
        down.stop()
        started = time.monotonic()
        r = relay.post("/api/browser/errors", json=error, headers=headers)
        assert r.status_code == 502 and "Error Tracker" in r.json()["detail"]
        assert time.monotonic() - started < 6
        assert relay.get("/health").status_code == 200
        down.start()
        r = relay.post("/api/browser/errors", json=error, headers=headers)
        assert r.status_code == 200 and r.json()["status"] == "incremented"
    down.stop()


# -- bad input --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b"", 400, "empty"),
        (b"not json", 400, "Invalid JSON"),
        (b"[1, 2]", 400, "object"),
        (b'{"message": "m"}', 400, "'type'"),
        (orjson.dumps({"type": "E", "message": "m", "stack": "x" * (70 * 1024)}), 413, "65536"),
    ],
)
def test_bad_error_reports_are_4xx(
    relay: TestClient, body: bytes, status: int, detail: str
) -> None:
    key = new_key(relay, "shop")
    r = relay.post("/api/browser/errors", content=body, headers={"X-Monlight-Key": key})
    assert r.status_code == status and detail in r.json()["detail"], r.text


def test_garbage_stacks_are_forwarded_unmapped(relay: TestClient, tracker: ServiceProcess) -> None:
    key = new_key(relay, "garbage")
    stack = "\n".join(
        [
            "at (((:::",
            "    at f (https://x.example/a.js:999999999999999999999999:1)",
            "@@@:1:2",
            "\ufffd<script>" * 50,
            "    at g (https://x.example/a.js:1:99999999999999999999)",
        ]
    )
    report = {"type": "GarbageError", "message": "m", "stack": stack, "release": "r1"}
    r = relay.post("/api/browser/errors", json=report, headers={"X-Monlight-Key": key})
    assert r.status_code == 201, r.text
    (listed,) = tracker_errors(tracker, project="garbage")
    detail = httpx.get(f"{tracker.url}/api/errors/{listed['id']}", headers=UPSTREAM).json()
    assert detail["traceback"] == stack


# -- the SDK ----------------------------------------------------------------------


def test_the_sdk_is_served_cacheable_with_its_version(relay: TestClient) -> None:
    r = relay.get("/sdk/monlight.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert "max-age=3600" in r.headers["cache-control"] and r.headers["etag"]
    assert r.headers["x-monlight-sdk-version"] != "unknown"
    assert r.headers["access-control-allow-origin"] == "*"
    assert b"Monlight" in r.content
    again = relay.get("/sdk/monlight.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert relay.get("/sdk/other.js").status_code == 404


# -- the earlier implementation's database ------------------------------------------


def test_an_earlier_database_keeps_its_keys_and_maps(
    tmp_path: Path, tracker: ServiceProcess, collector: ServiceProcess
) -> None:
    path = tmp_path / "browser-relay.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE _meta (key TEXT PRIMARY KEY, value TEXT)")
    for script in MIGRATIONS[:3]:
        assert isinstance(script, str)
        conn.executescript(script)
    conn.execute("INSERT INTO _meta VALUES ('schema_version', '3')")
    conn.execute(
        "INSERT INTO dsn_keys (public_key, project, created_at, active)"
        " VALUES ('0123456789abcdef0123456789abcdef', 'legacy', '2026-01-01T00:00:00Z', 1),"
        " ('fedcba9876543210fedcba9876543210', 'legacy', '2026-01-01T00:00:00Z', 0)"
    )
    conn.execute(
        "INSERT INTO source_maps (project, release, file_url, map_content, uploaded_at)"
        " VALUES ('legacy', 'v1', 'https://cdn.example/app.js', ?, ?)",
        (
            orjson.dumps(
                {"version": 3, "sources": ["src/app.ts"], "names": ["boom"], "mappings": "AAAAA"}
            ).decode(),
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        ),
    )
    conn.commit()
    conn.close()
    with make_relay(tmp_path, tracker, collector) as relay:
        keys = relay.get("/api/dsn-keys", headers=AS_ADMIN).json()["keys"]
        assert [k["active"] for k in keys] == [True, False]
        maps = relay.get("/api/source-maps", headers=AS_ADMIN).json()
        assert maps["total"] == 1 and maps["source_maps"][0]["file_url"].endswith("app.js")
        report = {
            "type": "Error",
            "message": "legacy map",
            "release": "v1",
            "stack": "Error: legacy map\n    at x (https://cdn.example/app.js:1:1)",
        }
        headers = {"X-Monlight-Key": "0123456789abcdef0123456789abcdef"}
        r = relay.post("/api/browser/errors", json=report, headers=headers)
        assert r.status_code == 201, r.text
    detail = httpx.get(f"{tracker.url}/api/errors/{r.json()['id']}", headers=UPSTREAM).json()
    assert "src/app.ts:1:1" in detail["traceback"], detail["traceback"]


# -- source maps ------------------------------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures" / "sourcemaps"


def upload(relay: TestClient, project: str, release: str, file_url: str, content: str):
    return relay.post(
        "/api/source-maps",
        headers=AS_ADMIN,
        json={"project": project, "release": release, "file_url": file_url, "map_content": content},
    )


def test_a_minified_error_arrives_with_its_original_frames(
    relay: TestClient, tracker: ServiceProcess
) -> None:
    """Key, map, minified error with a release: the tracker shows the original files."""
    key = new_key(relay, "mapped")
    stacks = orjson.loads((FIXTURES / "stacks.json").read_bytes())
    case = next(s for s in stacks if s["fixture"] == "esbuild")
    content = (FIXTURES / "esbuild" / "app.min.js.map").read_text()
    r = upload(relay, "mapped", "2026.12.2", "https://cdn.example.com/assets/app.min.js", content)
    assert r.status_code == 201 and r.json() == {
        "status": "uploaded",
        "project": "mapped",
        "release": "2026.12.2",
        "file_url": "https://cdn.example.com/assets/app.min.js",
    }
    for style in ("chrome", "firefox"):
        report = {
            "type": f"CheckoutError{style}",
            "message": "line 0 (apple) exceeds the limit",
            "stack": case[style],
            "release": "2026.12.2",
            "url": "https://shop.example.com/checkout",
        }
        sent = relay.post("/api/browser/errors", json=report, headers={"X-Monlight-Key": key})
        assert sent.status_code == 201, sent.text
        detail = httpx.get(f"{tracker.url}/api/errors/{sent.json()['id']}", headers=UPSTREAM)
        body = detail.json()
        assert body["traceback"] == case[f"{style}_rewritten"]
        assert "../src/cart.js:33:5" in body["traceback"] and "validateLines" in body["traceback"]
        assert body["occurrences"][0]["extra"]["original_stack"] == case[style]
        assert body["occurrences"][0]["request_method"] == "BROWSER"
    listed = tracker_errors(tracker, project="mapped", source="browser")
    assert {e["exception_type"] for e in listed} == {"CheckoutErrorchrome", "CheckoutErrorfirefox"}
    # Another release, or no release: the frames stay as they came.
    report = {"type": "Unmapped", "message": "m", "stack": case["chrome"], "release": "other"}
    sent = relay.post("/api/browser/errors", json=report, headers={"X-Monlight-Key": key})
    detail = httpx.get(f"{tracker.url}/api/errors/{sent.json()['id']}", headers=UPSTREAM).json()
    assert detail["traceback"] == case["chrome"]


def test_maps_are_upserted_listed_without_content_and_deleted(relay: TestClient) -> None:
    small = orjson.dumps({"version": 3, "sources": ["a.ts"], "names": [], "mappings": "AAAA"})
    for _ in range(2):
        assert upload(relay, "p", "r1", "/a.js", small.decode()).status_code == 201
    assert upload(relay, "p", "r2", "/a.js", small.decode()).status_code == 201
    assert upload(relay, "q", "r1", "/a.js", small.decode()).status_code == 201
    listed = relay.get("/api/source-maps", headers=AS_ADMIN).json()
    assert listed["total"] == 3
    assert set(listed["source_maps"][0]) == {"id", "project", "release", "file_url", "uploaded_at"}
    only_p = relay.get("/api/source-maps", params={"project": "p"}, headers=AS_ADMIN).json()
    assert [m["release"] for m in only_p["source_maps"]] == ["r1", "r2"]
    first = only_p["source_maps"][0]["id"]
    gone = relay.delete(f"/api/source-maps/{first}", headers=AS_ADMIN)
    assert gone.status_code == 200 and gone.json() == {"status": "deleted"}
    assert relay.delete(f"/api/source-maps/{first}", headers=AS_ADMIN).status_code == 404
    assert relay.get("/api/source-maps", headers=AS_ADMIN).json()["total"] == 2


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        ("not json at all", "not a valid source map"),
        ('{"version": 3, "sources": []}', "mappings"),
        ('{"version": 2, "sources": [], "mappings": ""}', "version"),
        ('{"version": 3, "sources": ["a.js"], "mappings": "AA!A"}', "not a valid source map"),
        ('{"version": 3, "sources": ["a.js"], "mappings": "AAg"}', "not a valid source map"),
        ("[1, 2, 3]", "not a valid source map"),
    ],
)
def test_bad_maps_are_400s_and_nothing_is_stored(
    relay: TestClient, content: str, detail: str
) -> None:
    r = upload(relay, "p", "r", "/bad.js", content)
    assert r.status_code == 400 and detail in r.json()["detail"], r.text
    assert relay.get("/api/source-maps", headers=AS_ADMIN).json()["total"] == 0


def test_maps_may_be_5_mib_and_no_more(relay: TestClient) -> None:
    # A valid map just under the route's limit is taken; a 6 MiB body is a 413, while the
    # browser routes keep MAX_BODY_SIZE (64 KiB).
    filler = "A" * (4 * 1024 * 1024)
    big = orjson.dumps(
        {
            "version": 3,
            "sources": ["a.js"],
            "names": [],
            "mappings": "AAAA",
            "sourcesContent": [filler],
        }
    ).decode()
    assert upload(relay, "p", "r", "/big.js", big).status_code == 201
    huge = b'{"project": "p", "release": "r", "file_url": "/h.js", "map_content": "'
    huge += b"A" * (6 * 1024 * 1024) + b'"}'
    r = relay.post("/api/source-maps", content=huge, headers=AS_ADMIN)
    assert r.status_code == 413 and str(5 * 1024 * 1024) in r.json()["detail"]


def test_frames_past_the_map_stay_as_they_came(relay: TestClient, tracker: ServiceProcess) -> None:
    key = new_key(relay, "past")
    content = (FIXTURES / "esbuild" / "app.min.js.map").read_text()
    assert upload(relay, "past", "v", "/assets/app.min.js", content).status_code == 201
    stack = (
        "Error: past\n"
        "    at a (https://cdn.example.com/assets/app.min.js:999:5)\n"
        "    at b (https://cdn.example.com/assets/app.min.js:1:999999)\n"
        "    at c (https://cdn.example.com/assets/app.min.js:0:0)"
    )
    report = {"type": "PastError", "message": "m", "stack": stack, "release": "v"}
    sent = relay.post("/api/browser/errors", json=report, headers={"X-Monlight-Key": key})
    assert sent.status_code == 201, sent.text
    detail = httpx.get(f"{tracker.url}/api/errors/{sent.json()['id']}", headers=UPSTREAM).json()
    lines = detail["traceback"].splitlines()
    assert lines[1] == "    at a (https://cdn.example.com/assets/app.min.js:999:5)"
    assert lines[3] == "    at c (https://cdn.example.com/assets/app.min.js:0:0)"


def test_chunked_bodies_are_limited_per_route(relay: TestClient) -> None:
    """Without a Content-Length the limit applies as the body streams in: 64 KiB on the
    browser routes, 5 MiB on the map upload."""
    key = new_key(relay, "chunks")

    def chunks(total: int, piece: bytes = b" " * 8192) -> Iterator[bytes]:
        yield b'{"type": "E", "message": "m"'
        for _ in range(total // len(piece)):
            yield piece
        yield b"}"

    r = relay.post(
        "/api/browser/errors", content=chunks(70 * 1024), headers={"X-Monlight-Key": key}
    )
    assert r.status_code == 413 and "65536" in r.json()["detail"]
    small = orjson.dumps(
        {"version": 3, "sources": ["a.ts"], "names": [], "mappings": "AAAA"}
    ).decode()

    def upload_chunks() -> Iterator[bytes]:
        body = orjson.dumps(
            {"project": "p", "release": "r", "file_url": "/c.js", "map_content": small}
        )
        yield body[:-1]
        for _ in range(200):  # 1.6 MiB of whitespace: over 64 KiB, under 5 MiB
            yield b" " * 8192
        yield b"}"

    r = relay.post("/api/source-maps", content=upload_chunks(), headers=AS_ADMIN)
    assert r.status_code == 201, r.text


def test_the_stack_makes_no_dev_key_when_dsn_keys_are_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run as a system service with DSN_KEYS set, the stack creates no development
    DSN key and allows no local dev origins; it still wires the relay upstream."""
    from shared.service import StackPlan

    plan = StackPlan(
        data_dir=tmp_path,
        urls={"error_tracker": "http://t", "metrics_collector": "http://m"},
        keys={"error_tracker": "tk", "metrics_collector": "mk"},
    )
    assert SERVICE.stack_part is not None
    dev = SERVICE.stack_part(plan)
    assert dev.env["DSN_KEYS"].startswith("dev:") and "CORS_ORIGINS" in dev.env
    assert (tmp_path / "dev-dsn-key").exists()
    (tmp_path / "dev-dsn-key").unlink()
    monkeypatch.setenv("DSN_KEYS", "shop:" + "a" * 32)
    real = SERVICE.stack_part(plan)
    assert "DSN_KEYS" not in real.env and "CORS_ORIGINS" not in real.env
    assert real.env["ERROR_TRACKER_URL"] == "http://t"
    assert not (tmp_path / "dev-dsn-key").exists()
