"""The Log Viewer's benchmarks.

L1: ingestion from Docker json-file logs (the service's worker, in-process).
1M lines over 4 containers, 5 % of entries multiline (bench/seed_logs.py),
read once from a fresh database with TAIL_BUFFER covering the whole files:
one `Ingestor.poll`, timed; `value` is lines per second. The run is on this
process's thread (as M3 is), so `--profile` samples it.

L2: `GET /api/logs` searches on the database L1's input makes (~870k
entries from 1M lines), one connection, wrk as for the other queries.

L3: live-tail latency: a real service tails a container directory with the
default POLL_INTERVAL; a line is appended at a random moment of the poll
cycle and timed until its SSE `log` event arrives, many times over.
"""

from __future__ import annotations

import contextlib
import random
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import orjson

from bench.core import (
    Context,
    Row,
    benchmark,
    log,
    max_p50,
    max_value,
    min_value,
    no_errors,
    run_load,
)
from bench.seed_logs import docker_record, write_docker_logs
from bench.service import API_KEY, Service, free_port, request, service_env
from bench.wrk import Load
from log_viewer.config import from_env
from log_viewer.database import MIGRATIONS
from log_viewer.ingestion import Ingestor
from shared.db import Database

LINES = 1_000_000
#: The spec's bar, lines/s, and the earlier implementation's figure.
L1_LINES_S = 150_000
L1_NATIVE_LINES_S = 5_200


#: L2's p50 bar (ms) and the searches: (label, query string, short name).
L2_P50_MS = 20
L2_QUERIES = (
    ("word, ~43k hits", "search=KeyError", "word"),
    ("rare word", "search=4242", "rare"),
    ("phrase", "search=" + quote('"job send_invoice failed"'), "phrase"),
    ("level + container + word", "level=ERROR&container=service-1&search=price", "filtered"),
    ("no search, container", "container=service-2", "container"),
)
#: L3: appended lines timed, and the poll interval the service runs with (its default).
L3_LINES = 40
L3_POLL_S = 2.0


def docker_logs(ctx: Context) -> tuple[Path, dict[str, int]]:
    """The 1M-line log directory, written once per bench run."""
    root = ctx.workdir / "logs-1m"  # shared by L1 and L2 of one bench run
    marker = root / "facts.json"
    if marker.exists():
        return root, orjson.loads(marker.read_bytes())
    started = time.monotonic()
    root.mkdir(parents=True, exist_ok=True)
    facts = write_docker_logs(root / "containers", LINES)
    marker.write_bytes(orjson.dumps(facts))
    log(
        f"  wrote {facts['lines']:,} lines ({facts['entries']:,} entries,"
        f" {facts['bytes'] / 1e6:.0f} MB) in {time.monotonic() - started:.0f} s"
    )
    return root, facts


def ingest(root: Path, path: Path) -> tuple[float, int]:
    """One pass of the service's ingestor over the whole directory: (seconds, entries)."""
    db = Database(str(path), MIGRATIONS)
    try:
        settings = from_env(
            {
                "API_KEY": "bench",
                "DATABASE_PATH": str(path),
                "LOG_SOURCES": str(root / "containers"),
                "TAIL_BUFFER": str(10**12),
                "MAX_ENTRIES": str(10 * LINES),
            }
        )
        ingestor = Ingestor(db, settings)
        clock = time.monotonic()
        report = ingestor.poll(time.time() + 3600, rescan=True)
        return time.monotonic() - clock, report.entries
    finally:
        db.close()


@benchmark("L1", "log ingest from Docker json-file logs")
def l1(ctx: Context) -> list[Row]:
    root, facts = docker_logs(ctx)
    rates = []
    for run in range(ctx.runs):
        seconds, entries = ingest(root, ctx.scratch(f"l1-run-{run}") / "logs.db")
        rates.append(facts["lines"] / seconds)
        log(
            f"  L1-{run + 1}: {seconds:.1f} s, {facts['lines'] / seconds:,.0f} lines/s,"
            f" {entries:,} entries"
        )
    row = Row(
        "L1",
        "1M lines over 4 containers, 5 % multiline, one pass",
        value=statistics.median(rates),
        unit="lines/s",
        bar=[min_value(L1_LINES_S, "lines/s")],
    )
    row.notes.append(
        f"runs {', '.join(f'{r:,.0f}' for r in rates)} lines/s; the earlier implementation:"
        f" ~{L1_NATIVE_LINES_S:,} lines/s"
    )
    return [row]


@benchmark("L2", "log search at 1M lines")
def l2(ctx: Context) -> list[Row]:
    root, facts = docker_logs(ctx)
    database = ctx.scratch("l2") / "logs.db"
    seconds, _ = ingest(root, database)
    log(f"  L2: ingested {facts['lines']:,} lines in {seconds:.0f} s")
    empty = ctx.scratch("l2-no-sources")
    port = free_port()
    env = service_env(
        database, port, LOG_SOURCES=str(empty), MAX_ENTRIES=str(10 * LINES), LOG_LEVEL="warning"
    )
    rows: list[Row] = []
    hits: list[str] = []
    with Service("log_viewer", env, [port], ctx.scratch("l2") / "server.log") as service:
        service.wait_idle()
        for title, query, short in L2_QUERIES:
            path = f"/api/logs?{query}&limit=100"
            status, body = request(service.url + path)
            if status != 200:
                raise RuntimeError(f"GET {path} answered {status}: {body[:200]!r}")
            hits.append(f"{short}: {orjson.loads(body)['total']:,}")

            @contextlib.contextmanager
            def same(run: int) -> Iterator[Service]:
                yield service

            def load(mode: str, run: int, path: str = path) -> Load:
                return Load(path, 1, None, (), (("X-API-Key", API_KEY),))

            rows += run_load(
                ctx,
                "L2",
                f"GET /api/logs?{query}, {title}, c=1",
                same,
                load,
                lambda mode: [max_p50(L2_P50_MS), no_errors()],
                fresh_per_run=False,
                variant=short,
            )
        entries = orjson.loads(request(service.url + "/api/logs/stats")[1])
    rows[0].notes.append(
        f"{entries['total_logs']:,} entries from {facts['lines']:,} lines;"
        f" 100 rows a page; hits (total) {', '.join(hits)}"
    )
    return rows


class TailClock:
    """An SSE client on /api/logs/tail that notes when each marked line arrives."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.arrived: dict[str, float] = {}
        self.ready = threading.Event()
        self.changed = threading.Condition()
        self.stop = False
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()
        if not self.ready.wait(10):
            raise RuntimeError("the live tail did not open")

    def _listen(self) -> None:
        headers = {"X-API-Key": API_KEY}
        with (
            httpx.Client(timeout=None) as client,
            client.stream("GET", self.url + "/api/logs/tail", headers=headers) as resp,
        ):
            if resp.status_code != 200:
                raise RuntimeError(f"tail answered {resp.status_code}")
            self.ready.set()
            for line in resp.iter_lines():
                if self.stop:
                    return
                if not line.startswith("data:"):
                    continue
                clock = time.monotonic()
                event = orjson.loads(line[5:])
                message = event.get("message", "") if isinstance(event, dict) else ""
                if message.startswith("l3-marker "):
                    with self.changed:
                        self.arrived[message] = clock
                        self.changed.notify_all()

    def wait_for(self, marker: str, timeout: float) -> float | None:
        with self.changed:
            self.changed.wait_for(lambda: marker in self.arrived, timeout)
            return self.arrived.get(marker)


@benchmark("L3", "live tail latency, line appended → SSE event")
def l3(ctx: Context) -> list[Row]:
    scratch = ctx.scratch("l3")
    cid = "ab" * 32
    directory = scratch / "containers" / cid
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.v2.json").write_bytes(orjson.dumps({"Name": "/tailed"}))
    path = directory / f"{cid}-json.log"
    path.write_bytes(docker_record("started"))
    port = free_port()
    env = service_env(
        scratch / "logs.db",
        port,
        LOG_SOURCES=str(scratch / "containers"),
        POLL_INTERVAL=str(int(L3_POLL_S)),
    )
    rnd = random.Random(3)
    latencies: list[float] = []
    lost = 0
    with Service("log_viewer", env, [port], scratch / "server.log") as service:
        tail = TailClock(service.url)
        try:
            for i in range(L3_LINES * ctx.runs):
                time.sleep(rnd.uniform(0, L3_POLL_S))  # anywhere in the poll cycle
                marker = f"l3-marker {i}"
                written = time.monotonic()
                with path.open("ab") as f:
                    f.write(docker_record(marker))
                arrived = tail.wait_for(marker, L3_POLL_S + 5)
                if arrived is None:
                    lost += 1
                else:
                    latencies.append(arrived - written)
        finally:
            tail.stop = True
    latencies.sort()
    bar_s = L3_POLL_S + 0.1
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    row = Row(
        "L3",
        f"line appended → SSE `log` event, POLL_INTERVAL={L3_POLL_S:.0f}",
        p50_ms=p50 * 1000,
        p99_ms=p99 * 1000,
        errors=lost,
        value=latencies[-1],
        unit="s max",
        bar=[max_value(bar_s, "s max"), no_errors()],
    )
    row.notes.append(
        f"{len(latencies)} lines appended at random moments of the poll cycle; latency"
        f" min {latencies[0] * 1000:.0f} ms, p50 {p50 * 1000:.0f} ms, max"
        f" {latencies[-1] * 1000:.0f} ms; {lost} never arrived"
    )
    return [row]
