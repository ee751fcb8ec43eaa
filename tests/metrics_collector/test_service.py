"""The real service on loopback: the published 0.3.0 client, kill -9, CLI and shutdown."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import httpx
import pytest

from metrics_collector import SERVICE as COLLECTOR
from shared.config import ConfigError
from tests.helpers import (
    ServiceProcess,
    collector_env,
    run_published_client,
    wait_until,
)

KEY = "test-key"
AUTH = {"X-API-Key": KEY}


def test_published_client_flushes_into_a_running_collector(
    tmp_path: Path, published_client: Path
) -> None:
    with ServiceProcess("metrics_collector", collector_env(tmp_path)) as svc:
        out = run_published_client(
            published_client,
            f"""
from monlight import MetricsClient
client = MetricsClient({svc.url!r}, {KEY!r}, project="shop")
client.counter("http_requests_total", labels={{"method": "GET", "status": "200"}})
client.counter("http_requests_total", labels={{"status": "200", "method": "GET"}}, value=2)
for value in (0.3, 0.1, 0.2):
    client.histogram("http_request_duration_seconds", value, labels={{"endpoint": "/items/{{id}}"}})
client.gauge("queue_depth", 7)
client.flush()
print("flushed")
""",
        )
        assert "flushed" in out
        with httpx.Client(base_url=svc.url, headers=AUTH) as http:
            names = http.get("/api/metrics/names").json()["metrics"]
            assert names == [
                {"name": "http_request_duration_seconds", "type": "histogram"},
                {"name": "http_requests_total", "type": "counter"},
                {"name": "queue_depth", "type": "gauge"},
            ]
            assert http.get("/api/projects").json()["projects"] == ["shop"]
            (hits,) = http.get(
                "/api/metrics",
                params={
                    "name": "http_requests_total",
                    "period": "5m",
                    "labels": "method:GET",
                },
            ).json()["data"]
            assert (hits["count"], hits["sum"]) == (2, 3.0)
            (lat,) = http.get(
                "/api/metrics",
                params={
                    "name": "http_request_duration_seconds",
                    "period": "5m",
                    "labels": "endpoint:/items/{id}",
                },
            ).json()["data"]
            assert (lat["count"], lat["p50"], lat["p99"]) == (3, 0.2, 0.3)
            assert http.get("/health").json()["metrics_received_24h"] == 6


def test_every_acknowledged_batch_survives_kill_9(tmp_path: Path) -> None:
    env = collector_env(tmp_path)
    svc = ServiceProcess("metrics_collector", env).start()
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def send(worker: int) -> None:
        with httpx.Client(base_url=svc.url, headers=AUTH, timeout=5) as http:
            for i in range(100_000):
                if stop.is_set():
                    return
                batch = f"{worker}-{i}"
                body = [
                    {"name": "killed", "type": "counter", "value": 1, "labels": {"batch": batch}}
                    for _ in range(50)
                ]
                try:
                    r = http.post("/api/metrics", json=body)
                except httpx.HTTPError:
                    return  # the server died mid-request: not acknowledged
                if r.status_code == 202:
                    with lock:
                        acked.append(batch)

    threads = [threading.Thread(target=send, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: len(acked) >= 60, timeout=30, what="60 acknowledged batches")
        svc.kill9()
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    with ServiceProcess("metrics_collector", env) as again:
        with sqlite3.connect(env["DATABASE_PATH"]) as conn:
            stored = dict(
                conn.execute(
                    "SELECT json_extract(labels, '$.batch'), count(*) FROM metrics_raw GROUP BY 1"
                )
            )
        missing = [b for b in acked if stored.get(b) != 50]
        assert not missing, f"{len(missing)} acknowledged batches lost or partial: {missing[:5]}"
        assert all(n == 50 for n in stored.values())  # nothing half-written either
        data = httpx.get(
            f"{again.url}/api/metrics", params={"name": "killed", "period": "1h"}, headers=AUTH
        ).json()["data"]
        assert sum(d["count"] for d in data) == 50 * len(stored) >= 50 * len(acked)


def test_bad_collector_settings_are_named() -> None:
    """The contract tests show bad settings stop start-up with one line; these
    are the collector's own variables."""
    for extra, name in (
        ({"AGGREGATION_INTERVAL": "soon"}, "AGGREGATION_INTERVAL"),
        ({"RETENTION_RAW": "0"}, "RETENTION_RAW"),
        ({"API_KEY": ""}, "API_KEY"),
    ):
        with pytest.raises(ConfigError, match=name):
            COLLECTOR.load({"API_KEY": "k", **extra})
