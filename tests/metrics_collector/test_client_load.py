"""The published 0.3.0 client under real traffic, against the stack as `make run` starts it.

An app instrumented with 0.3.0's `MonlightMiddleware` (a Starlette
middleware; FastAPI apps use the same class) serves 300 requests/s for 25 s,
15 % of them on a slow `/checkout`. The client flushes every 10 s one point
per request and metric, ~6,000 points per batch: the earlier limit of 1,000
refused them whole, silently. Every request served must be counted in
`http_requests_total`, and the period's p99 must show the slow route. A
batch over MAX_BATCH_POINTS is refused with a 400 that the collector logs
and counts in /health.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from metrics_collector import SERVICE as COLLECTOR
from tests.helpers import StackProcess, run_published_client, wait_until

KEY = "load-test-key"
RATE = 300
#: Not a multiple of the client's 10 s flush interval: 0.3.0 sends a periodic flush on
#: a daemon thread and its shutdown flush finds the buffer already taken, so a stop
#: that coincides with a periodic flush (at 30 s) exits while that batch is in flight.
SECONDS = 25
SLOW_SHARE = 0.15

APP = """
import asyncio
import contextlib
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from monlight import MetricsClient
from monlight.integrations.fastapi import MonlightMiddleware

collector, key, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = MetricsClient(collector, key, project="shop")


async def home(request):
    return JSONResponse({"ok": True})


async def item(request):
    await asyncio.sleep(0.005)
    return JSONResponse({"id": request.path_params["id"]})


async def checkout(request):
    await asyncio.sleep(0.3)
    return JSONResponse({"paid": True})


@contextlib.asynccontextmanager
async def lifespan(app):
    client.start()
    yield
    client.shutdown()  # the last flush


app = Starlette(
    routes=[Route("/", home), Route("/items/{id}", item), Route("/checkout", checkout)],
    lifespan=lifespan,
)
app.add_middleware(MonlightMiddleware, metrics_client=client)
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`make run`'s stack on free ports: (collector URL, its log)."""
    with StackProcess(tmp_path, KEY) as running:
        url = running.url(COLLECTOR)

        def healthy() -> bool:
            running.running()
            try:
                return httpx.get(url + "/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout=30, what="the stack's collector")
        yield url, running.log_path


def app_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: Connections the load keeps open (a slow request holds one for 0.3 s).
CONNECTIONS = 64


async def drive(port: int) -> tuple[int, float]:
    """RATE requests/s for SECONDS on a fixed schedule; (requests served, seconds taken).

    A bare HTTP/1.1 keep-alive client: a general-purpose one (httpx) spends more CPU
    per request than the app it measures, and would be the bottleneck on two cores.
    """
    rnd = random.Random(8)
    paths = [
        "/checkout" if rnd.random() < SLOW_SHARE else rnd.choice(["/", f"/items/{i}"])
        for i in range(RATE * SECONDS)
    ]
    schedule = iter(enumerate(paths))  # each worker claims the next request in turn
    statuses: list[int] = []
    start = time.monotonic()

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for i, path in schedule:
            await asyncio.sleep(max(0.0, start + i / RATE - time.monotonic()))
            writer.write(f"GET {path} HTTP/1.1\r\nHost: app\r\n\r\n".encode())
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            statuses.append(status)
        writer.close()

    await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    taken = time.monotonic() - start
    assert len(statuses) == len(paths) and set(statuses) == {200}
    return len(statuses), taken


def test_every_request_at_300_per_second_is_counted(
    stack: tuple[str, Path], published_client: Path, tmp_path: Path
) -> None:
    collector, log = stack
    port = app_port()
    app_log = tmp_path / "app.log"
    with app_log.open("w") as out:
        app = subprocess.Popen(
            [sys.executable, "-c", APP, collector, KEY, str(port)],
            env={**os.environ, "PYTHONPATH": str(published_client)},
            stdout=out,
            stderr=out,
        )
    try:

        def up() -> bool:
            assert app.poll() is None, app_log.read_text()
            try:
                return httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout=20, what="the instrumented app")
        warmup = 1  # the readiness probe above is a request the app served too
        served, taken = asyncio.run(drive(port))
    finally:
        app.send_signal(signal.SIGTERM)  # uvicorn shuts down; the client flushes what is left
        app.wait(timeout=30)
    served += warmup
    print(f"served {served} requests in {taken:.1f} s ({served / taken:.0f}/s)")
    assert "returned status" not in app_log.read_text()  # no flush was refused

    with httpx.Client(base_url=collector, headers={"X-API-Key": KEY}) as http:
        data = http.get(
            "/api/metrics", params={"name": "http_requests_total", "period": "15m"}
        ).json()["data"]
        assert sum(d["sum"] for d in data) == served
        assert http.get("/health").json()["metrics_received_24h"] == 2 * served
        # The tail is the slow route's, in the merged answer too (not an average of p99s).
        (total,) = [
            s["total"]
            for s in http.get(
                "/api/metrics",
                params={
                    "name": "http_request_duration_seconds",
                    "period": "15m",
                    "group_by": "project",
                },
            ).json()["series"]
        ]
        assert total["count"] == served
        assert total["p99"] >= 0.3
        by_endpoint = http.get(
            "/api/metrics",
            params={
                "name": "http_request_duration_seconds",
                "period": "15m",
                "group_by": "endpoint",
            },
        ).json()["series"]
        slowest = max(by_endpoint, key=lambda s: s["total"]["p95"])
        assert slowest["labels"] == {"endpoint": "/checkout"}

        # A batch over the limit: a 400 the sender sees, a line in the log, a count in /health.
        run_published_client(
            published_client,
            f"""
import logging
logging.basicConfig(level=logging.WARNING)
from monlight import MetricsClient
client = MetricsClient({collector!r}, {KEY!r})
for _ in range(10_001):
    client.counter("burst_total")
client.flush()
""",
        )
        assert http.get("/health").json()["rejected_batches_24h"] == 1
        assert "refused a metrics batch from 127.0.0.1" in log.read_text()
        assert "burst_total" not in [
            m["name"] for m in http.get("/api/metrics/names").json()["metrics"]
        ]
