"""Realistic Metrics Collector databases, built through the collector's own code.

Points look like what the monlight client sends for a small shop: the
FastAPI middleware's `http_requests_total` counter and
`http_request_duration_seconds` histogram per request (labels method,
endpoint, status — five endpoint×method routes), background job timings,
browser Web Vitals, and gauges sampled every 15 s. Over a day, traffic
follows a daily curve whose peak is 6 h before the end, so the newest hour
(the one still raw) runs at the day's average rate whatever the clock says.

They go in as the service stores them — 1000-point JSON batches through
`ingestion.parse_batch` and the `ingestion.store` write job on a
`shared.db.Database` opened with the collector's migrations — and the real
`aggregation.Aggregator` turns them into minute and hour rows and applies
retention. `seed_day` replays a day the way a running service lives it
(aggregation after every minute, so raw points older than RETENTION_RAW are
gone and the last minute or two are not aggregated yet); `seed_raw` leaves
everything raw and dirty, the input of one aggregation run (M3).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from metrics_collector.aggregation import Aggregator, RunReport
from metrics_collector.config import from_env
from metrics_collector.database import MIGRATIONS
from metrics_collector.ingestion import MAX_POINTS, Catalog, SeriesKey, parse_batch, store
from shared.db import Database
from shared.timeutil import MINUTE, from_epoch

#: The series M2 queries: one point per request, 5 routes × a few statuses.
QUERY_NAME = "http_request_duration_seconds"
#: M2's label filter: one route (the spec's `key:value,key2:value2` form).
LABEL_FILTER = "method:POST,endpoint:/api/checkout"

API_PROJECT = "shop-api"
#: (method, route template, share of requests, median latency in seconds).
ROUTES: tuple[tuple[str, str, float, float], ...] = (
    ("GET", "/api/products", 0.40, 0.018),
    ("GET", "/api/products/{id}", 0.30, 0.009),
    ("POST", "/api/cart/items", 0.15, 0.025),
    ("GET", "/api/orders", 0.10, 0.040),
    ("POST", "/api/checkout", 0.05, 0.180),
)
STATUSES: tuple[tuple[str, float], ...] = (("200", 0.955), ("404", 0.03), ("500", 0.015))
TASKS = ("send_email", "sync_inventory", "render_invoice", "charge_card")
PAGES = ("/", "/products", "/products/{id}", "/cart", "/checkout")
#: Web Vitals: (name, median, spread of the log-normal).
VITALS = (
    ("web_vitals_lcp", 2100.0, 0.5),
    ("web_vitals_inp", 140.0, 0.6),
    ("web_vitals_cls", 0.06, 0.9),
)
#: Gauges sampled every 15 s: (name, labels, project, typical value).
GAUGES: tuple[tuple[str, dict[str, str], str, float], ...] = (
    ("db_pool_connections_in_use", {"pool": "primary"}, API_PROJECT, 6.0),
    ("worker_queue_depth", {"queue": "default"}, "shop-worker", 12.0),
    ("process_resident_memory_bytes", {"service": "api"}, API_PROJECT, 182e6),
)


def day_weight(epoch: float, peak: float) -> float:
    """Relative traffic at a time: 1.7 at the daily peak, 0.3 twelve hours from it."""
    return 1.0 + 0.7 * math.cos((epoch - peak) / 86_400 * 2 * math.pi)


def per_minute(start: int, minutes: int, total: int, peak: float | None = None) -> list[int]:
    """`total` points split over the minutes from `start`, following the day curve
    around `peak` (flat when None).

    Largest-remainder rounding, so the counts add up to `total` exactly.
    """
    weights = [
        1.0 if peak is None else day_weight(start + m * MINUTE, peak) for m in range(minutes)
    ]
    scale = total / sum(weights)
    exact = [w * scale for w in weights]
    counts = [int(x) for x in exact]
    short = total - sum(counts)
    by_remainder = sorted(range(minutes), key=lambda m: exact[m] - counts[m], reverse=True)
    for m in by_remainder[:short]:
        counts[m] += 1
    return counts


class Traffic:
    """Emits the points of one minute as the monlight client would send them."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.routes = [(m, r, median) for m, r, _, median in ROUTES]
        self.route_weights = [share for _, _, share, _ in ROUTES]
        self.statuses = [s for s, _ in STATUSES]
        self.status_weights = [w for _, w in STATUSES]

    def minute(self, start: int, count: int) -> list[dict[str, Any]]:
        """`count` points with timestamps in [start, start + 60), oldest first."""
        rng = self.rng
        points: list[tuple[int, dict[str, Any]]] = []
        for name, labels, project, typical in GAUGES:
            for second in (0, 15, 30, 45):
                value = round(typical * rng.uniform(0.6, 1.4), 2)
                points.append(
                    (second, _point(name, "gauge", value, start + second, labels, project))
                )
        while len(points) < count:
            second = rng.randrange(60)
            ts = start + second
            roll = rng.random()
            if roll < 0.88:  # a request: the middleware's counter + histogram
                ((method, route, median),) = rng.choices(self.routes, self.route_weights)
                (status,) = rng.choices(self.statuses, self.status_weights)
                labels = {"method": method, "endpoint": route, "status": status}
                duration = round(median * rng.lognormvariate(0, 0.6), 6)
                points.append(
                    (second, _point("http_requests_total", "counter", 1, ts, labels, API_PROJECT))
                )
                points.append(
                    (second, _point(QUERY_NAME, "histogram", duration, ts, labels, API_PROJECT))
                )
            elif roll < 0.96:  # a background job
                task = rng.choice(TASKS)
                outcome = "failed" if rng.random() < 0.02 else "ok"
                seconds = round(rng.lognormvariate(-1.0, 0.8), 4)
                points.append(
                    (
                        second,
                        _point(
                            "job_duration_seconds",
                            "histogram",
                            seconds,
                            ts,
                            {"task": task},
                            "shop-worker",
                        ),
                    )
                )
                points.append(
                    (
                        second,
                        _point(
                            "jobs_total",
                            "counter",
                            1,
                            ts,
                            {"task": task, "outcome": outcome},
                            "shop-worker",
                        ),
                    )
                )
            else:  # a browser page view's Web Vital
                name, median, spread = rng.choice(VITALS)
                value = round(median * rng.lognormvariate(0, spread), 4)
                labels = {"page": rng.choice(PAGES), "source": "browser"}
                points.append((second, _point(name, "histogram", value, ts, labels, "shop-web")))
        del points[count:]
        points.sort(key=lambda p: p[0])
        return [p for _, p in points]


def _point(
    name: str, kind: str, value: float, ts: int, labels: dict[str, str], project: str
) -> dict[str, Any]:
    """The client's field order: name, type, value, timestamp, labels, project."""
    return {
        "name": name,
        "type": kind,
        "value": value,
        "timestamp": from_epoch(ts),
        "labels": labels,
        "project": project,
    }


def batches(points: list[dict[str, Any]], size: int = MAX_POINTS) -> Iterator[bytes]:
    """Request bodies of at most `size` points (the API's limit is 1000)."""
    for i in range(0, len(points), size):
        yield orjson.dumps(points[i : i + size])


@dataclass
class Seeder:
    """A collector database opened the way the service opens it, plus its aggregator."""

    path: Path
    env: dict[str, str]

    def __post_init__(self) -> None:
        self.db = Database(str(self.path), MIGRATIONS)
        config = from_env({"API_KEY": "seed", "DATABASE_PATH": str(self.path), **self.env})
        self.catalog = Catalog()
        self.aggregator = Aggregator(self.db, config, self.catalog)
        self.points = 0

    def ingest(self, body: bytes) -> None:
        """One POST /api/metrics, minus HTTP: parse the batch, commit the store job."""
        batch = parse_batch(body)
        # Counted in the minute the client sent it, not the minute we replay it.
        batch.received = batch.minutes[-1]
        known: set[SeriesKey] = self.catalog.known
        added = self.db.writer.submit_sync(lambda conn: store(conn, batch, known))
        if added:
            self.catalog.remember(added)
        self.points += batch.count

    def aggregate(self, now: float) -> RunReport:
        return self.aggregator.run_once(now)

    def close(self) -> None:
        """As at service shutdown: writes drained, `PRAGMA optimize`, WAL checkpointed."""
        self.aggregator.stop()
        self.db.close()

    def __enter__(self) -> Seeder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _minutes(end: int, minutes: int) -> tuple[int, int]:
    """The first minute and the aligned end of `minutes` minutes ending at `end`."""
    end -= end % MINUTE
    return end - minutes * MINUTE, end


def seed_day(
    path: Path,
    total: int,
    *,
    hours: int = 24,
    end: float | None = None,
    env: dict[str, str] | None = None,
    seed: int = 1,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """`total` points over the `hours` (a day) before `end`, lived as a running
    service lives them.

    After each minute's points are stored, aggregation (with retention) runs as
    the worker would a few seconds into the next minute. The last minute's run
    is left out, like a query landing between two runs: the newest one or two
    minutes stay raw and are answered from raw points.
    """
    minutes = hours * 60
    first, stop = _minutes(int(time.time() if end is None else end), minutes)
    counts = per_minute(first, minutes, total, peak=stop - 6 * 3600)
    traffic = Traffic(seed)
    runs = 0
    started = time.monotonic()
    with Seeder(path, env or {}) as seeder:
        for index, count in enumerate(counts):
            start = first + index * MINUTE
            for body in batches(traffic.minute(start, count)):
                seeder.ingest(body)
            if start + MINUTE < stop:
                seeder.aggregate(start + MINUTE + 5)
                runs += 1
            if progress and index % 240 == 239:
                progress(
                    f"  day seed: {index + 1} of {minutes} minutes,"
                    f" {time.monotonic() - started:.0f} s"
                )
        points = seeder.points
    return {
        "points": points,
        "runs": runs,
        "first": from_epoch(first),
        "end": from_epoch(stop),
        "bytes": path.stat().st_size,
    }


def seed_raw(
    path: Path, total: int, minutes: int, *, end: float | None = None, seed: int = 1
) -> dict[str, Any]:
    """`total` points over the `minutes` whole minutes before `end`, stored and not
    aggregated: what one aggregation run finds after a burst or a downtime."""
    first, stop = _minutes(int(time.time() if end is None else end), minutes)
    counts = per_minute(first, minutes, total, peak=stop - 6 * 3600 if minutes > 120 else None)
    traffic = Traffic(seed)
    with Seeder(path, {}) as seeder:
        for index, count in enumerate(counts):
            for body in batches(traffic.minute(first + index * MINUTE, count)):
                seeder.ingest(body)
        points = seeder.points
    return {
        "points": points,
        "first": from_epoch(first),
        "end": from_epoch(stop),
        "bytes": path.stat().st_size,
    }


def table_counts(path: Path) -> dict[str, int]:
    """Rows per tier, for the report."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        raw = conn.execute("SELECT count(*) FROM metrics_raw").fetchone()[0]
        tiers = dict(
            conn.execute(
                "SELECT resolution, count(*) FROM metrics_aggregated GROUP BY resolution"
            ).fetchall()
        )
        dirty = conn.execute("SELECT count(*) FROM metrics_dirty_minutes").fetchone()[0]
    return {
        "raw": raw,
        "minute": tiers.get("minute", 0),
        "hour": tiers.get("hour", 0),
        "dirty_minutes": dirty,
    }
