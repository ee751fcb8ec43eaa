"""A hostile or careless client against both services, started for real.

Each block replays what an outside check found (see the hardening issue) plus
variants: the service must answer as specified (4xx/503 with a detail), stay
healthy, and keep its memory under RSS_BOUND_MB.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import ServiceProcess, collector_env, tracker_env, wait_until

KEY = {"X-API-Key": "test-key"}
#: Idle services sit near 40 MB; the floods below must not take them far past it.
RSS_BOUND_MB = 120


def rss_mb(service: ServiceProcess) -> float:
    assert service.proc is not None
    status = Path(f"/proc/{service.proc.pid}/status").read_text()
    kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return kb / 1024


@pytest.fixture(scope="module")
def tracker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    with ServiceProcess("error_tracker", tracker_env(tmp_path_factory.mktemp("t"))) as svc:
        yield svc


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    env = collector_env(tmp_path_factory.mktemp("c"), AGGREGATION_INTERVAL="1")
    with ServiceProcess("metrics_collector", env) as svc:
        yield svc


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def healthy(service: ServiceProcess) -> None:
    r = httpx.get(f"{service.url}/health", timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "ok", r.text
    assert rss_mb(service) < RSS_BOUND_MB


def raw(service: ServiceProcess, data: bytes, timeout: float = 15) -> bytes:
    """Send bytes on a fresh socket; everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", service.port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # the server closed first: its answer is readable
            sock.sendall(data)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except ConnectionResetError:
            pass
        return out


# --- the collector ---------------------------------------------------------------


def test_overflowing_values_never_stop_aggregation(collector: ServiceProcess) -> None:
    past = time.time() - 3 * 3600
    points = [
        {"name": f"big_{kind}", "type": kind, "value": sign * 1.7e308, "timestamp": iso(past),
         "labels": {"s": str(sign)}}
        for kind in ("gauge", "counter", "histogram") for sign in (1, 1, -1, -1)
    ] + [{"name": "ordinary", "type": "counter", "value": 1, "timestamp": iso(past)}]  # fmt: skip
    r = httpx.post(f"{collector.url}/api/metrics", json=points, headers=KEY)
    assert r.status_code == 202

    def runs_after(moment: str) -> bool:
        health = httpx.get(f"{collector.url}/health", timeout=10).json()
        return (health.get("last_aggregation") or "") > moment

    posted = iso(time.time())
    wait_until(lambda: runs_after(posted), what="an aggregation run after the post")
    later = iso(time.time())
    wait_until(lambda: runs_after(later), what="and the next one: nothing is stuck")
    for name in ("big_gauge", "big_counter", "big_histogram"):
        for params in ({"period": "4h"}, {"period": "7d"}, {"period": "4h", "resolution": "hour"}):
            r = httpx.get(
                f"{collector.url}/api/metrics", params={"name": name, **params}, headers=KEY
            )
            assert r.status_code == 200, r.text
    assert (
        httpx.get(
            f"{collector.url}/api/dashboard", params={"period": "7d"}, headers=KEY
        ).status_code
        == 200
    )
    healthy(collector)


@pytest.mark.parametrize(
    "timestamp", ["9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "2000-02-30T00:00:00Z"]
)
def test_timestamps_nobody_would_see_are_refused(collector: ServiceProcess, timestamp: str) -> None:
    point = {"name": "when", "type": "gauge", "value": 1, "timestamp": timestamp}
    r = httpx.post(f"{collector.url}/api/metrics", json=[point], headers=KEY)
    assert r.status_code == 400 and r.json()["detail"].startswith("points[0].timestamp")


@pytest.mark.parametrize("limit", ["5_0", "\u0665", "1e3", "0x10"])
def test_lenient_integers_are_refused(collector: ServiceProcess, limit: str) -> None:
    r = httpx.get(f"{collector.url}/api/metrics/names", params={"limit": limit}, headers=KEY)
    assert r.status_code in (200, 400)  # names takes no limit: ignored or refused, never a 500
    r = httpx.get(
        f"{collector.url}/api/metrics", params={"name": "x", "period": f"{limit}m"}, headers=KEY
    )
    assert r.status_code == 400


def test_a_flood_of_distinct_names_stays_small_to_list_and_hold(
    collector: ServiceProcess,
) -> None:
    """Repro 6, scaled down: posts of 1,000 distinct 200-char names."""
    with httpx.Client(base_url=collector.url, headers=KEY, timeout=30) as client:
        for batch in range(20):
            points = [
                {"name": f"{batch:02d}-{i:04d}-" + "n" * 190, "type": "counter", "value": 1}
                for i in range(1000)
            ]
            assert client.post("/api/metrics", json=points).status_code == 202
        names = client.get("/api/metrics/names")
        assert names.status_code == 200 and len(names.content) < 400_000
        assert names.json()["total"] >= 20_000 and len(names.json()["metrics"]) == 1000
        found = client.get("/api/metrics/names", params={"search": "19-0999-"}).json()
        assert found["total"] == 1
        assert client.get("/api/projects").json()["total"] == 0
    healthy(collector)


# --- the tracker -----------------------------------------------------------------


def test_deeply_nested_extra_never_breaks_a_group(tracker: ServiceProcess) -> None:
    base = b'{"project":"p","exception_type":"E","message":"m","traceback":"deep"'
    first = httpx.post(f"{tracker.url}/api/errors", content=base + b"}", headers=KEY)
    assert first.status_code == 201
    for levels in (129, 200, 252, 253, 254, 300):
        extra = b"[" * levels + b"1" + b"]" * levels
        r = httpx.post(
            f"{tracker.url}/api/errors", content=base + b',"extra":' + extra + b"}", headers=KEY
        )
        assert r.status_code == 400, levels
    assert (
        httpx.get(f"{tracker.url}/api/errors/{first.json()['id']}", headers=KEY).status_code == 200
    )
    healthy(tracker)


# --- both: HTTP itself -----------------------------------------------------------


@pytest.mark.parametrize("which", ["tracker", "collector"])
def test_huge_heads_are_431_and_memory_stays_bounded(
    which: str, request: pytest.FixtureRequest
) -> None:
    service: ServiceProcess = request.getfixturevalue(which)
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: "
    for _ in range(8):  # 8 sockets sending 5 MiB of one header each
        answer = raw(service, head + b"a" * (5 * 1024 * 1024) + b"\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 431") or answer == b""
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(5000))
    assert raw(service, b"GET /health HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n").startswith(
        b"HTTP/1.1 431"
    )
    healthy(service)


@pytest.mark.parametrize("which", ["tracker", "collector"])
def test_oversized_bodies_get_413_with_a_detail(which: str, request: pytest.FixtureRequest) -> None:
    service: ServiceProcess = request.getfixturevalue(which)
    path = "/api/errors" if which == "tracker" else "/api/metrics"
    with httpx.Client(timeout=20, headers={**KEY, "Connection": "close"}) as client:
        for _ in range(3):
            r = client.post(f"{service.url}{path}", content=b"[" + b" " * (6 * 1024 * 1024) + b"]")
            assert r.status_code == 413 and "exceeds" in r.json()["detail"]
    healthy(service)


@pytest.mark.parametrize("which", ["tracker", "collector"])
def test_key_guessing_is_throttled_but_never_the_key(
    which: str, request: pytest.FixtureRequest
) -> None:
    service: ServiceProcess = request.getfixturevalue(which)
    path = "/api/projects"
    with httpx.Client(base_url=service.url, timeout=10) as client:
        # RATE_LIMIT is off in these services (tests/helpers); every guess is a 401.
        for guess in ("", "x", "' OR 1=1 --", "\u00e9" * 10, "a" * 5000):
            r = client.get(path, headers={"X-API-Key": guess} if guess.isascii() else {})
            assert r.status_code in (401, 431) and r.headers["content-type"].startswith(
                "application/json"
            )
        assert client.get(path, headers=KEY).status_code == 200
