"""Metrics Collector benchmarks: M1 ingest, M2 a day's query, M3 one aggregation run."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

from bench.core import (
    Check,
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
from bench.seed_metrics import LABEL_FILTER, QUERY_NAME, Seeder, seed_day, seed_raw, table_counts
from bench.service import API_KEY, Service, free_port, request, service_env
from bench.wrk import CLOSE, KEEP_ALIVE, Load, WrkResult
from metrics_collector.aggregation import RunReport

AUTH = (("X-API-Key", API_KEY),)
#: Points per POST in M1, as the spec says.
BATCH = 100
#: M2's day and M3's runs: the spec's "1M raw points".
POINTS = 1_000_000
#: M1's bars, in points/s: the spec's, and the earlier implementation's figure
#: (which could only close connections).
M1_POINTS_S = 250_000
M1_NATIVE_POINTS_S = 16_600
M2_P50_MS = 50
M3_SECONDS = 5


@contextlib.contextmanager
def collector(ctx: Context, database: Path | None = None, **extra: str) -> Iterator[Service]:
    """`python -m metrics_collector` on a free port: fresh database unless one is given."""
    scratch = ctx.scratch("metrics_collector")
    port = free_port()
    env = service_env(database or scratch / "metrics.db", port, **extra)
    with Service("metrics_collector", env, [port], scratch / "server.log") as service:
        yield service
    if service.exit_code:
        raise RuntimeError(f"metrics_collector exited {service.exit_code}: {service.log_tail()}")


def batch_load(mode: str = KEEP_ALIVE, run: int = 0) -> Load:
    return Load("/api/metrics", 32, "metrics_batch.lua", (str(BATCH),), AUTH)


def received_24h(service: Service) -> int:
    status, body = request(f"{service.url}/health")
    if status != 200:
        raise RuntimeError(f"GET /health answered {status}: {body[:200]!r}")
    return int(json.loads(body)["metrics_received_24h"])


def points_bars(mode: str) -> list[Check]:
    """Points/s (req/s × 100) against the spec with keep-alive; with `Connection: close`
    against the earlier implementation's figure. Error-free either way."""
    if mode == CLOSE:
        return [min_value(M1_NATIVE_POINTS_S, "points/s (native)"), no_errors()]
    return [min_value(M1_POINTS_S, "points/s"), no_errors()]


@benchmark("M1", "metrics ingest, 100-point batches")
def m1(ctx: Context) -> list[Row]:
    stored: list[str] = []

    def check_points(service: Service, result: WrkResult) -> None:
        # Every answered batch must be committed (>=: wrk does not count requests
        # still in flight when it stops, the server may have stored them).
        received = received_24h(service)
        stored.append(f"{received:,}")
        answered = (result.requests - result.errors) * BATCH
        if received < answered:
            raise RuntimeError(f"M1: {answered:,} points answered, only {received:,} stored")

    rows = run_load(
        ctx,
        "M1",
        f"POST /api/metrics, {BATCH}-point batches, c=32",
        lambda run: collector(ctx),
        batch_load,
        points_bars,
        after_run=check_points,
    )
    for index, row in enumerate(rows):
        row.value = (row.rps or 0) * BATCH
        row.unit = "points/s"
        per_run = stored[index * ctx.runs : (index + 1) * ctx.runs]
        row.notes.append(f"points stored per run: {', '.join(per_run)}")
    return rows


# -- M2 -----------------------------------------------------------------------


def query_path(labels: str | None = None) -> str:
    path = f"/api/metrics?name={QUERY_NAME}&period=24h"
    if labels:
        path += "&labels=" + quote(labels, safe=":/,")
    return path


def check_answer(service: Service, path: str) -> tuple[int, int]:
    """The answer is a day at minute resolution: (buckets, points covered)."""
    status, body = request(service.url + path)
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}: {body[:200]!r}")
    answer = json.loads(body)
    buckets = answer["data"]
    if answer["resolution"] != "minute" or len(buckets) < 1380:
        raise RuntimeError(
            f"GET {path}: {len(buckets)} {answer['resolution']} buckets, not a day of minutes"
        )
    return len(buckets), sum(b["count"] for b in buckets)


@benchmark("M2", "metrics query, 24 h at minute resolution, 1M raw points/day")
def m2(ctx: Context) -> list[Row]:
    database = ctx.scratch("seed") / "metrics.db"
    started = time.monotonic()
    facts = seed_day(database, POINTS, progress=log)
    counts = table_counts(database)
    log(
        f"  seeded a day of {facts['points']:,} points in {time.monotonic() - started:.0f} s"
        f" ({facts['runs']} aggregation runs): {counts['raw']:,} raw, {counts['minute']:,}"
        f" minute rows, {counts['hour']:,} hour rows, {facts['bytes'] / 2**20:.0f} MiB"
    )
    variants = (
        (query_path(), f"GET /api/metrics?name={QUERY_NAME}&period=24h", "all"),
        (query_path(LABEL_FILTER), f"… &labels={LABEL_FILTER}", "labels"),
    )
    rows: list[Row] = []
    answers: list[str] = []
    # The worker must not run during the load: the seed left it one run behind,
    # as a query between two runs finds it.
    with collector(ctx, database, AGGREGATION_INTERVAL="86400") as service:
        waited = service.wait_idle()
        for path, title, short in variants:
            buckets, points = check_answer(service, path)
            answers.append(f"{short}: {buckets:,} buckets, {points:,} points")
            for connections in (1, 32):

                @contextlib.contextmanager
                def same(run: int) -> Iterator[Service]:
                    yield service

                rows += run_load(
                    ctx,
                    "M2",
                    f"{title}, c={connections}",
                    same,
                    lambda mode, run, path=path, c=connections: Load(path, c, None, (), AUTH),
                    lambda mode: [max_p50(M2_P50_MS), no_errors()],
                    fresh_per_run=False,
                    variant=f"{short}-c{connections}",
                )
    rows[0].notes.append(
        f"seeded through the collector's ingestion and aggregation, minute by minute over"
        f" {facts['first']}..{facts['end']} ({facts['points']:,} points, {facts['runs']:,}"
        f" aggregation runs with retention): {counts['raw']:,} raw points left (the last"
        f" hour), {counts['minute']:,} minute rows, {counts['hour']:,} hour rows,"
        f" {counts['dirty_minutes']} minute(s) not aggregated yet;"
        f" answers {'; '.join(answers)}; measured after {waited:.0f} s of start-up settling"
    )
    return rows


# -- M3 -----------------------------------------------------------------------


@contextlib.contextmanager
def profiled_here(ctx: Context, label: str) -> Iterator[None]:
    """py-spy on this process (M3 runs the aggregation in-process), with --profile."""
    if ctx.profile_dir is None:
        yield
        return
    from bench.profile import start_recording

    ctx.profile_dir.mkdir(parents=True, exist_ok=True)
    recorder = start_recording(os.getpid(), ctx.profile_dir / label, 600, ctx.profile_gil)
    time.sleep(0.5)  # let py-spy attach before the run starts
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes what it has on Ctrl-C
        try:
            recorder.wait(timeout=30)
        except subprocess.TimeoutExpired:
            recorder.kill()


@benchmark("M3", "aggregation of 1M raw points, one run")
def m3(ctx: Context) -> list[Row]:
    variants: tuple[tuple[str, str, int], ...] = (
        ("burst", "1M raw points within 50 min (a burst)", 50),
        ("backlog", "1M raw points over 24 h (a backlog after downtime)", 24 * 60),
    )
    rows = []
    for short, title, minutes in variants:
        seeded = ctx.scratch(f"m3-{short}") / "seed.db"
        started = time.monotonic()
        facts = seed_raw(seeded, POINTS, minutes)
        log(
            f"  M3 {short}: seeded {facts['points']:,} raw points over {facts['first']}.."
            f"{facts['end']} in {time.monotonic() - started:.0f} s"
        )
        reports = []
        for run in range(ctx.runs):
            # Each run gets the same untouched input: a copy of the seeded file.
            database = ctx.scratch(f"m3-{short}-run") / "metrics.db"
            shutil.copyfile(seeded, database)
            with Seeder(database, {}) as seeder, profiled_here(ctx, f"M3-{short}-{run + 1}"):
                report = on_worker_thread(lambda seeder=seeder: seeder.aggregate(time.time()))
            reports.append(report)
            after = table_counts(database)
            if after["dirty_minutes"] or after["minute"] == 0:
                raise RuntimeError(f"M3 {short}: run left {after}")
            log(
                f"  M3-{short}-{run + 1}: {report.seconds:.2f} s ({phases(report.phases)});"
                f" {report.minutes} minutes, {report.hours} hours, deleted {report.deleted}"
            )
        rows.append(m3_row(title, reports))
    return rows


def on_worker_thread(run: Callable[[], RunReport]) -> RunReport:
    """Run on a thread named like the service's worker (profiles then read the same)."""
    out: list[RunReport] = []
    worker = threading.Thread(target=lambda: out.append(run()), name="aggregation")
    worker.start()
    worker.join()
    if not out:
        raise RuntimeError("the aggregation run failed (see the traceback above)")
    return out[0]


def phases(times: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in times.items())


def m3_row(title: str, reports: list[RunReport]) -> Row:
    median = statistics.median
    row = Row(
        "M3",
        title,
        value=median([r.seconds for r in reports]),
        unit="s",
        bar=[max_value(M3_SECONDS, "s")],
    )
    names = list(reports[0].phases)
    split = {name: median([r.phases.get(name, 0.0) for r in reports]) for name in names}
    last = reports[-1]
    row.notes.append(
        f"runs {', '.join(f'{r.seconds:.2f}' for r in reports)} s; median by phase:"
        f" {phases(split)}; {last.minutes:,} minute(s) and {last.hours} hour(s) aggregated,"
        f" retention deleted {last.deleted['raw']:,} raw points"
    )
    return row
