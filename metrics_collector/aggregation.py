"""The aggregation worker: raw points → minute rows → hour rows, then retention.

Exact and idempotent by construction — rows are rebuilt, never incremented:

* **Which minutes.** Ingestion marks the minutes of a batch dirty
  (`metrics_dirty_minutes`) in the same commit as the points, so no point
  can slip past aggregation, however late it comes. A run takes the
  highest raw id as its horizon and *recomputes* every complete dirty
  minute from all its raw points up to that id: the minute's rows are
  deleted and rebuilt in one commit, which also clears the minute unless a
  point above the horizon has arrived meanwhile. Running twice rebuilds
  the same rows; a late point dirties its minute again and the next run
  rebuilds it from every point — exactly what one pass over all of them gives.
* **Old minutes.** Raw points live RETENTION_RAW hours. `raw_purged_before`
  is the minute before which raw rows were purged; it moves in the same
  commit as each purge, and purges stop at the first dirty minute. So every
  raw point older than it has not been counted yet: for those minutes the
  points are *merged* into the existing rows (counts, sums, min and max
  exact; sketches merged) and deleted in the same commit, so
  they are never counted twice.
* **Hours.** A rebuilt minute marks its hour dirty; complete dirty hours
  are rebuilt from their minute rows (the spec's roll-up), one series at a
  time so memory stays flat however many series there are: counts and
  sums add, sketches merge, percentiles come from the merged sketch.
  `minute_purged_before` (an hour, never past the raw horizon or a dirty
  hour) marks hours whose minute rows are gone: late points there are
  merged into the hour row directly.
* **Queries.** `aggregated_through` / `hours_through` say up to where each
  tier is complete; query.py reads anything newer from the tier below.

Reads use the worker's own read-only connection; writes go through the
shared writer in short jobs (about CHUNK_POINTS points of minutes, a few
hours), so ingestion never waits long behind aggregation. Jobs are plain
SQL (the writer may replay them), and a stop request is honoured between jobs.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from itertools import chain, groupby
from typing import Any

from metrics_collector import retention
from metrics_collector.config import CollectorSettings
from metrics_collector.database import read_state, write_state
from metrics_collector.ingestion import Catalog
from metrics_collector.query import TierCache
from metrics_collector.sketch import Sketch
from metrics_collector.stats import Stats, rollup, summarize
from shared.bulk import BulkInsert
from shared.db import Database
from shared.timeutil import HOUR, MINUTE, floor_epoch, from_epoch, hour_of, shift
from shared.workers import PeriodicWorker

log = logging.getLogger("monlight.metrics_collector.aggregation")

#: Raw points read before a chunk of minute rows is written.
CHUNK_POINTS = 50_000

AGG_FIELDS = (
    "bucket",
    "resolution",
    "name",
    "labels",
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "p50",
    "p95",
    "p99",
    "project",
    "type",
    "n_good",
    "n_poor",
    "sketch",
)
AGG_COLUMNS = ", ".join(AGG_FIELDS)
AGGREGATED = "metrics_aggregated"
#: All series of a (name, project, type) merged per bucket: what unfiltered queries read.
MERGED = "metrics_merged"
insert_agg = BulkInsert(AGGREGATED, AGG_FIELDS)
insert_merged = BulkInsert(MERGED, AGG_FIELDS)
INSERT = {AGGREGATED: insert_agg, MERGED: insert_merged}

SeriesId = tuple[str, str | None, str | None, str | None]  # name, labels, project, type


def agg_row(bucket: str, resolution: str, series: SeriesId, s: Stats) -> tuple[Any, ...]:
    name, labels, project, kind = series
    return (
        bucket,
        resolution,
        name,
        labels,
        s.count,
        s.sum,
        s.min,
        s.max,
        s.avg,
        s.p50,
        s.p95,
        s.p99,
        project,
        kind,
        s.n_good,
        s.n_poor,
        s.sketch,
    )


def group_points(
    rows: Iterable[tuple[str, str, str | None, str | None, str | None, float]],
) -> dict[tuple[str, str, str | None, str | None, str | None], list[float]]:
    """Raw (timestamp, name, labels, project, type, value) → values per (minute, series)."""
    groups: dict[tuple[str, str, str | None, str | None, str | None], list[float]] = {}
    get = groups.get
    for ts, name, labels, project, kind, value in rows:
        key = (ts[:16], name, labels, project, kind)
        values = get(key)
        if values is None:
            groups[key] = [value]
        else:
            values.append(value)
    return groups


def minute_rows(
    groups: dict[tuple[str, str, str | None, str | None, str | None], list[float]],
) -> tuple[list[Any], list[Any]]:
    """Minute rows of the groups, and their merged rows (exact: the pooled values),
    each flattened for its BulkInsert."""
    out: list[Any] = []
    extend = out.extend
    pooled: dict[tuple[str, str, str | None, str | None], list[tuple[list[float], Stats]]] = {}
    for (minute, name, labels, project, kind), values in groups.items():
        stats = summarize(name, kind, values)
        extend(agg_row(minute + ":00Z", "minute", (name, labels, project, kind), stats))
        pooled.setdefault((minute, name, project, kind), []).append((values, stats))
    merged: list[Any] = []
    for (minute, name, project, kind), parts in pooled.items():
        merged.extend(
            agg_row(minute + ":00Z", "minute", (name, None, project, kind), pool(name, kind, parts))
        )
    return out, merged


def pool(name: str, kind: str | None, parts: list[tuple[list[float], Stats]]) -> Stats:
    """One row of all series' values. A lone series is its own merge; otherwise the
    series' sketches merge (cheaper than counting every value again) and the pooled
    values, each part already sorted, give the exact percentiles."""
    if len(parts) == 1:
        return parts[0][1]
    sketch = None
    if parts[0][1].merged is not None:
        sketch = Sketch()
        for _, stats in parts:
            if stats.merged is not None:
                sketch.merge(stats.merged)
    values = sorted(chain.from_iterable(values for values, _ in parts))
    return summarize(name, kind, values, sketch=sketch)


def merged_deltas(
    deltas: list[tuple[SeriesId, list[float]]],
) -> list[tuple[SeriesId, list[float]]]:
    """Values of series pooled per (name, project, type): the merged table's series."""
    pooled: dict[SeriesId, list[float]] = {}
    for (name, _labels, project, kind), values in deltas:
        pooled.setdefault((name, None, project, kind), []).extend(values)
    return list(pooled.items())


# --- write jobs (plain SQL; the writer may replay them) ---------------------------------------


_CLEAN = (
    "DELETE FROM metrics_dirty_minutes WHERE minute >= ? AND minute < ? AND minute NOT IN"
    " (SELECT DISTINCT substr(timestamp, 1, 16) || ':00Z' FROM metrics_raw"
    "  WHERE timestamp >= ? AND timestamp < ? AND id > ?)"
)


def clean(conn: sqlite3.Connection, first: str, last: str, up_to_id: int) -> None:
    """Minutes [first, last] are clean once counted, unless a point above the run's
    horizon came in meanwhile (then they stay dirty for the next run)."""
    end = shift(last, MINUTE)
    conn.execute(_CLEAN, (first, end, first, end, up_to_id))


def replace_minutes(
    conn: sqlite3.Connection,
    minutes: list[str],
    rows: list[Any],
    merged: list[Any],
    up_to_id: int,
) -> None:
    """Rebuild consecutive whole minutes: old rows go, the recomputed ones (flat) come in."""
    if not minutes:
        return
    first, last = minutes[0], minutes[-1]
    for table in (AGGREGATED, MERGED):
        conn.execute(
            f"DELETE FROM {table} WHERE resolution = 'minute' AND bucket >= ? AND bucket < ?",
            (first, shift(last, MINUTE)),
        )
    insert_agg(conn, rows)
    insert_merged(conn, merged)
    clean(conn, first, last, up_to_id)
    conn.executemany(
        "INSERT OR IGNORE INTO metrics_dirty_hours (hour) VALUES (?)",
        sorted({(hour_of(m),) for m in minutes}),
    )


_FIND = (
    "SELECT id, count, sum, min, max, p50, p95, p99, n_good, n_poor, sketch"
    " FROM {table}"
    " WHERE resolution = ? AND bucket = ? AND name = ? AND labels IS ? AND project IS ?"
    " AND type IS ?"
)


def merge_into(
    conn: sqlite3.Connection,
    resolution: str,
    bucket: str,
    series: SeriesId,
    delta: Stats,
    table: str = AGGREGATED,
) -> None:
    """Fold not-yet-counted points into an existing row of the series, or add one."""
    row = conn.execute(_FIND.format(table=table), (resolution, bucket, *series)).fetchone()
    if row is None:
        INSERT[table](conn, agg_row(bucket, resolution, series, delta))
        return
    merged = rollup([Stats(*row[1:]), delta])
    conn.execute(
        f"UPDATE {table} SET count = ?, sum = ?, min = ?, max = ?, avg = ?, p50 = ?,"
        " p95 = ?, p99 = ?, n_good = ?, n_poor = ?, sketch = ? WHERE id = ?",
        (
            merged.count,
            merged.sum,
            merged.min,
            merged.max,
            merged.avg,
            merged.p50,
            merged.p95,
            merged.p99,
            merged.n_good,
            merged.n_poor,
            merged.sketch,
            row[0],
        ),
    )


def merge_minute(
    conn: sqlite3.Connection,
    minute: str,
    deltas: dict[str, list[tuple[SeriesId, Stats]]],
    up_to_id: int,
    horizons: dict[str, str],
) -> None:
    """A minute whose raw points were purged: merge the new ones (per series into
    metrics_aggregated, pooled into metrics_merged), then drop them."""
    hour = hour_of(minute)
    if hour >= horizons["minute_purged_before"]:
        for table, items in deltas.items():
            for series, delta in items:
                merge_into(conn, "minute", minute, series, delta, table)
        conn.execute("INSERT OR IGNORE INTO metrics_dirty_hours (hour) VALUES (?)", (hour,))
    elif hour >= horizons["hour_purged_before"]:
        for table, items in deltas.items():
            for series, delta in items:
                merge_into(conn, "hour", hour, series, delta, table)
    conn.execute(
        "DELETE FROM metrics_raw WHERE timestamp >= ? AND timestamp < ? AND id <= ?",
        (minute, shift(minute, MINUTE), up_to_id),
    )
    clean(conn, minute, minute, up_to_id)


#: Rows of a tier in a span, one series after another (roll-ups stream them).
_SERIES_ROWS = (
    "SELECT name, labels, project, type, count, sum, min, max, p50, p95, p99, n_good, n_poor,"
    " sketch FROM {table} WHERE resolution = ? AND bucket >= ? AND bucket < ?"
    " ORDER BY name, labels, project, type"
)


def hour_rows(conn: sqlite3.Connection, hour: str, table: str = AGGREGATED) -> list[Any]:
    """The hour's rows of a table rolled up from its minute rows, flattened for insert."""
    out: list[Any] = []
    cursor = conn.execute(_SERIES_ROWS.format(table=table), ("minute", hour, shift(hour, HOUR)))
    for series, rows in groupby(cursor, key=lambda r: r[:4]):
        parts = [Stats(*r[4:]) for r in rows]
        out.extend(agg_row(hour, "hour", series, rollup(parts)))
    return out


def replace_hour(
    conn: sqlite3.Connection,
    hour: str,
    rows: dict[str, list[Any]],
    horizons: dict[str, str],
) -> None:
    """A complete dirty hour rebuilt (unless its minutes were purged meanwhile)."""
    if hour >= horizons["minute_purged_before"] and hour >= horizons["hour_purged_before"]:
        for table, flat in rows.items():
            conn.execute(f"DELETE FROM {table} WHERE resolution = 'hour' AND bucket = ?", (hour,))
            INSERT[table](conn, flat)
    conn.execute("DELETE FROM metrics_dirty_hours WHERE hour = ?", (hour,))


def backfill_merged(conn: sqlite3.Connection) -> None:
    """Merged rows for everything already aggregated (migration 14), one bucket's
    series after another; legacy rows without a sketch merge count-weighted."""
    for resolution in ("minute", "hour"):
        cursor = conn.execute(
            "SELECT bucket, name, project, type, count, sum, min, max, p50, p95, p99, n_good,"
            " n_poor, sketch FROM metrics_aggregated WHERE resolution = ?"
            " ORDER BY bucket, name, project, type",
            (resolution,),
        )
        flat: list[Any] = []
        for (bucket, name, project, kind), rows in groupby(cursor, key=lambda r: r[:4]):
            parts = [Stats(*r[4:]) for r in rows]
            flat.extend(agg_row(bucket, resolution, (name, None, project, kind), rollup(parts)))
            if len(flat) > 50_000:
                insert_merged(conn, flat)
                flat = []
        insert_merged(conn, flat)


# --- the run ---------------------------------------------------------------------------------


def consecutive_runs(minutes: list[str]) -> list[list[str]]:
    """Sorted minute buckets split into runs of consecutive minutes (one range scan each)."""
    runs: list[list[str]] = []
    previous = ""
    for minute in minutes:
        if runs and shift(previous, MINUTE) == minute:
            runs[-1].append(minute)
        else:
            runs.append([minute])
        previous = minute
    return runs


class Stopped(Exception):
    """Shutdown asked the run to stop between chunks."""


@dataclass
class RunReport:
    up_to_id: int = 0
    minutes: int = 0
    merged_minutes: int = 0
    hours: int = 0
    deleted: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    #: Seconds spent per phase (minutes, hours, retention), for logs and benchmarks.
    phases: dict[str, float] = field(default_factory=dict)


class Aggregator:
    """Runs aggregation + retention every AGGREGATION_INTERVAL seconds on a thread.

    `run_once(now)` is the whole run (tests call it directly with a chosen
    `now`); a lock keeps runs from overlapping. It is a `Worker` for
    `create_app`: `start()`, `stop()`, plus `trigger()` to run early.
    """

    def __init__(
        self,
        db: Database,
        config: CollectorSettings,
        catalog: Catalog,
        tiers: TierCache | None = None,
    ) -> None:
        self.db = db
        self.config = config
        self.catalog = catalog
        #: Told after every commit of a run: what queries kept of the tiers is stale.
        self.tiers = tiers
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._periodic = PeriodicWorker(
            "aggregation", self._tick, float(config.aggregation_interval)
        )
        self.runs = 0

    # Worker protocol
    def start(self) -> None:
        self._periodic.start()

    def trigger(self) -> None:
        self._periodic.trigger()

    def stop(self) -> None:
        self._stopping.set()
        self._periodic.stop()

    def _tick(self) -> None:
        report = self.run_once()
        if report.minutes or report.hours or any(report.deleted.values()):
            log.info(
                "aggregated %d minutes (%d merged late), %d hours in %.2fs; retention %s",
                report.minutes,
                report.merged_minutes,
                report.hours,
                report.seconds,
                report.deleted,
            )

    # helpers
    def read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """A read on the database's reader pool (this thread waits for it)."""
        return self.db.read_sync(fn)

    def write(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run a write job through the shared writer and wait for its commit.

        Waiting (rather than reading on while it commits) is deliberate: both
        sides need the GIL between SQLite steps, and overlapping them made the
        run slower, not faster.
        """
        if self._stopping.is_set():
            raise Stopped
        try:
            return self.db.write_sync(fn)
        finally:  # committed (or maybe not): either way, queries read the tiers afresh
            if self.tiers is not None:
                self.tiers.bump()

    def state(self) -> dict[str, str]:
        return self.read(read_state)  # type: ignore[no-any-return]

    def run_once(self, now: float | None = None) -> RunReport:
        """One full run at time `now` (epoch seconds; default: the clock)."""
        with self._lock:
            if self._stopping.is_set():
                return RunReport()
            started = time.monotonic()
            now = time.time() if now is None else now
            report = RunReport()
            try:
                self._run(now, report)
            except Stopped:
                log.info("aggregation stopped for shutdown; it resumes on the next start")
            report.seconds = time.monotonic() - started
            self.runs += 1
            return report

    def _run(self, now: float, report: RunReport) -> None:
        current = floor_epoch(now, MINUTE)
        state = self.state()
        top = self.read(lambda c: c.execute("SELECT max(id) FROM metrics_raw").fetchone()[0])
        report.up_to_id = top or 0
        dirty = self.read(
            lambda c: [
                r[0]
                for r in c.execute(
                    "SELECT minute FROM metrics_dirty_minutes WHERE minute < ? ORDER BY minute",
                    (current,),
                )
            ]
        )
        horizons = {
            k: state[k] for k in ("raw_purged_before", "minute_purged_before", "hour_purged_before")
        }
        late = [m for m in dirty if m < horizons["raw_purged_before"]]
        fresh = [m for m in dirty if m >= horizons["raw_purged_before"]]
        clock = time.monotonic()
        for minute in late:
            self._merge_minute(minute, report.up_to_id, horizons)
        report.merged_minutes = len(late)
        for run in consecutive_runs(fresh):
            self._recompute(run, report.up_to_id)
        report.minutes = len(dirty)
        if state["aggregated_through"] < current:
            self.write(lambda c: write_state(c, aggregated_through=current))
        report.phases["minutes"] = time.monotonic() - clock
        clock = time.monotonic()
        report.hours = self._hours(hour_of(current), horizons)
        report.phases["hours"] = time.monotonic() - clock
        clock = time.monotonic()
        report.deleted = retention.run(self, now)
        report.phases["retention"] = time.monotonic() - clock
        self.write(lambda c: write_state(c, last_aggregation=from_epoch(now)))

    def _recompute(self, run: list[str], up_to_id: int) -> None:
        """Rebuild a run of consecutive minutes from raw, one streaming range scan.

        Points are grouped as they stream in; every CHUNK_POINTS points, at the
        next minute boundary, the finished minutes are written in one job.
        """
        done = 0

        def flush(groups: dict[Any, list[float]], before: str | None) -> None:
            nonlocal done
            end = len(run) if before is None else bisect_left(run, before, lo=done)
            minutes, done = run[done:end], end
            rows, merged = minute_rows(groups)
            self.write(lambda c: replace_minutes(c, minutes, rows, merged, up_to_id))

        def read(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                "SELECT substr(timestamp, 1, 16), name, labels, project, type, value"
                " FROM metrics_raw WHERE timestamp >= ? AND timestamp < ? AND id <= ?"
                " ORDER BY timestamp",
                (run[0], shift(run[-1], MINUTE), up_to_id),
            )
            groups: dict[Any, list[float]] = {}
            get = groups.get
            seen = 0
            current = ""
            for minute, name, labels, project, kind, value in cursor:
                if minute != current:
                    if seen >= CHUNK_POINTS:
                        flush(groups, minute + ":00Z")
                        groups = {}
                        get = groups.get
                        seen = 0
                    current = minute
                key = (minute, name, labels, project, kind)
                values = get(key)
                if values is None:
                    groups[key] = [value]
                else:
                    values.append(value)
                seen += 1
            flush(groups, None)

        self.read(read)

    def _merge_minute(self, minute: str, up_to_id: int, horizons: dict[str, str]) -> None:
        """A late minute below the raw horizon: its raw points are all new; merge them."""
        groups = self.read(
            lambda c: group_points(
                c.execute(
                    "SELECT timestamp, name, labels, project, type, value FROM metrics_raw"
                    " WHERE timestamp >= ? AND timestamp < ? AND id <= ?",
                    (minute, shift(minute, MINUTE), up_to_id),
                )
            )
        )
        values = [
            ((name, labels, project, kind), vs)
            for (_, name, labels, project, kind), vs in groups.items()
        ]
        deltas = {
            table: [(series, summarize(series[0], series[3], vs)) for series, vs in items]
            for table, items in ((AGGREGATED, values), (MERGED, merged_deltas(values)))
        }
        self.write(lambda c: merge_minute(c, minute, deltas, up_to_id, horizons))

    def _hours(self, before: str, horizons: dict[str, str]) -> int:
        """Rebuild the complete dirty hours (those before `before`), one per job."""
        hours: list[str] = self.read(
            lambda c: [
                r[0]
                for r in c.execute(
                    "SELECT hour FROM metrics_dirty_hours WHERE hour < ? ORDER BY hour", (before,)
                )
            ]
        )
        for hour in hours:
            rows: dict[str, list[Any]] = {}
            if hour >= horizons["minute_purged_before"] and hour >= horizons["hour_purged_before"]:
                rows = {
                    table: self.read(partial(hour_rows, hour=hour, table=table))
                    for table in (AGGREGATED, MERGED)
                }
            self.write(partial(replace_hour, hour=hour, rows=rows, horizons=horizons))
        if self.state()["hours_through"] < before:
            self.write(lambda c: write_state(c, hours_through=before))
        return len(hours)
