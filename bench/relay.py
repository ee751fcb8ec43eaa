"""Browser Relay benchmark: R1, a browser error mapped through a 1 MiB source map.

A real tracker and relay on loopback (the collector is not involved: the
relay only needs its URL). The map is uploaded once and its parse warmed
by one request, so the runs measure what a burst of errors from one
release costs: the DSN-key check, the stack rewrite (10 frames through the
cached map) and the forward to the tracker over one pooled connection.
Every run's errors land on one group (the same stack), as a storm does.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

from bench.core import Context, Row, benchmark, log, min_rps, no_errors, run_load
from bench.seed_maps import big_map, browser_error
from bench.service import API_KEY, Service, free_port, request, service_env
from bench.wrk import CLOSE, Load

R1_RPS = 1_500
MAP_BYTES = 1024 * 1024
DSN = "bench0dsn0key0000000000000000000"
FILE_URL = "https://cdn.shop.example.com/assets/app.min.js"
RELEASE = "2026.12.2"


@contextlib.contextmanager
def relay_and_tracker(ctx: Context) -> Iterator[tuple[Service, str]]:
    scratch = ctx.scratch("relay")
    tracker_port, relay_port = free_port(), free_port()
    tracker_env = service_env(scratch / "errors.db", tracker_port)
    relay_env = service_env(
        scratch / "browser-relay.db",
        relay_port,
        ADMIN_API_KEY=API_KEY,
        ERROR_TRACKER_URL=f"http://127.0.0.1:{tracker_port}",
        ERROR_TRACKER_API_KEY=API_KEY,
        METRICS_COLLECTOR_URL="http://127.0.0.1:9",
        METRICS_COLLECTOR_API_KEY=API_KEY,
        DSN_KEYS=f"shop:{DSN}",
    )
    del relay_env["API_KEY"]
    with (
        Service("error_tracker", tracker_env, [tracker_port], scratch / "tracker.log"),
        Service("browser_relay", relay_env, [relay_port], scratch / "relay.log") as relay,
    ):
        mapping, positions = big_map(MAP_BYTES)
        status, body = request(
            f"{relay.url}/api/source-maps",
            method="POST",
            body=json.dumps(
                {
                    "project": "shop",
                    "release": RELEASE,
                    "file_url": FILE_URL,
                    "map_content": json.dumps(mapping),
                }
            ).encode(),
        )
        if status != 201:
            raise RuntimeError(f"map upload answered {status}: {body[:200]!r}")
        report = browser_error(FILE_URL + "?v=3", positions[:10], RELEASE)
        path = scratch / "report.json"
        path.write_text(json.dumps(report))
        status, body = _post_with_dsn(relay.url, path.read_bytes())
        if status not in (200, 201):
            raise RuntimeError(f"warm-up error answered {status}: {body[:200]!r}")
        yield relay, str(path)


def _post_with_dsn(url: str, body: bytes) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        f"{url}/api/browser/errors",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "X-Monlight-Key": DSN},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@benchmark("R1", "relay a browser error through a 1 MiB source map")
def r1(ctx: Context) -> list[Row]:
    report: list[str] = []

    @contextlib.contextmanager
    def start(run: int) -> Iterator[Service]:
        with relay_and_tracker(ctx) as (relay, path):
            report.append(path)
            yield relay

    def load(mode: str, run: int) -> Load:
        return Load(
            "/api/browser/errors",
            32,
            "relay_error.lua",
            (report[-1],),
            (("X-Monlight-Key", DSN),),
        )

    rows = run_load(
        ctx,
        "R1",
        "POST /api/browser/errors, 10 frames mapped through a 1 MiB map, c=32",
        start,
        load,
        lambda mode: [no_errors()] if mode == CLOSE else [min_rps(R1_RPS), no_errors()],
        fresh_per_run=False,
    )
    log(f"  R1: report {report[-1]}")
    return rows
