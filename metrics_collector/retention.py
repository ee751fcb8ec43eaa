"""Retention tiers, run at the end of every aggregation run.

Raw points older than RETENTION_RAW hours (never longer than the minute
tier), minute rows older than RETENTION_MINUTE hours, hour rows older than
RETENTION_HOURLY days. Deletes go in short jobs, oldest first, and each job
moves its purge horizon in the same commit — aggregation.py relies on those
horizons (see its docstring): raw points are deleted only in clean
minutes (already counted; checked inside the job, so a late point
committed a moment earlier is safe), and minute rows only for hours that
are not waiting to be rolled up.
"""

from __future__ import annotations

import sqlite3
from functools import partial
from typing import TYPE_CHECKING, Any

from metrics_collector.database import write_state
from shared.timeutil import HOUR, MINUTE, floor_epoch, hour_of, minute_of, shift

if TYPE_CHECKING:
    from metrics_collector.aggregation import Aggregator

#: Rows (about) per delete job, so the writer is never held for long.
CHUNK = 20_000
#: Receipt counts are kept a little longer than the 24 h that /health sums.
RECEIVED_KEEP = 25 * HOUR


def cutoffs(config: Any, now: float) -> dict[str, str]:
    """Where each tier starts, aligned to its buckets."""
    minute_cut = floor_epoch(now - config.retention_minute * HOUR, HOUR)
    raw_cut = max(floor_epoch(now - config.retention_raw * HOUR, MINUTE), minute_cut)
    return {
        "raw": raw_cut,
        "minute": minute_cut,
        "hour": floor_epoch(now - config.retention_hourly * 24 * HOUR, HOUR),
        "received": floor_epoch(now - RECEIVED_KEEP, MINUTE),
    }


def delete_raw(conn: sqlite3.Connection, start: str, end: str) -> tuple[int, str]:
    """Purge [start, end) up to the first dirty minute; return (rows, new horizon)."""
    first_dirty = conn.execute(
        "SELECT min(minute) FROM metrics_dirty_minutes WHERE minute >= ?", (start,)
    ).fetchone()[0]
    if first_dirty is not None and first_dirty < end:
        end = first_dirty
    if end <= start:
        return 0, start
    cur = conn.execute(
        "DELETE FROM metrics_raw WHERE timestamp >= ? AND timestamp < ?", (start, end)
    )
    write_state(conn, raw_purged_before=end)
    return cur.rowcount, end


def delete_minutes(conn: sqlite3.Connection, start: str, end: str) -> int:
    conn.execute(
        "DELETE FROM metrics_merged WHERE resolution = 'minute' AND bucket >= ? AND bucket < ?",
        (start, end),
    )
    cur = conn.execute(
        "DELETE FROM metrics_aggregated WHERE resolution = 'minute' AND bucket >= ? AND bucket < ?",
        (start, end),
    )
    write_state(conn, minute_purged_before=end)
    return cur.rowcount


def delete_hours(conn: sqlite3.Connection, cut: str) -> int:
    # The merged table holds one row per name and project: small enough for one statement.
    conn.execute("DELETE FROM metrics_merged WHERE resolution = 'hour' AND bucket < ?", (cut,))
    cur = conn.execute(
        "DELETE FROM metrics_aggregated WHERE id IN (SELECT id FROM metrics_aggregated"
        " WHERE resolution = 'hour' AND bucket < ? LIMIT ?)",
        (cut, CHUNK),
    )
    write_state(conn, hour_purged_before=cut)
    return cur.rowcount


def prune_catalog(conn: sqlite3.Connection) -> int:
    """Names with no data left in any tier leave the names and projects lists.

    Raw points in clean minutes are always covered by aggregated rows (raw
    never outlives the minute tier), so only raw points from the first dirty
    minute on need a look — a short, recent range on the timestamp index.
    """
    cur = conn.execute(
        "DELETE FROM metric_catalog WHERE NOT EXISTS (SELECT 1 FROM metrics_aggregated a"
        "  WHERE a.name = metric_catalog.name AND a.type IS metric_catalog.type"
        "  AND coalesce(a.project, '') = metric_catalog.project)"
        " AND (name, type, project) NOT IN (SELECT name, type, coalesce(project, '')"
        "  FROM metrics_raw WHERE timestamp >= (SELECT coalesce(min(minute), '9')"
        "  FROM metrics_dirty_minutes))"
    )
    return cur.rowcount


def prune_series(conn: sqlite3.Connection) -> int:
    """Series with no data left in any tier stop counting against MAX_SERIES."""
    cur = conn.execute(
        "DELETE FROM metric_series WHERE NOT EXISTS (SELECT 1 FROM metrics_aggregated a"
        "  WHERE a.name = metric_series.name AND coalesce(a.labels, '') = metric_series.labels"
        "  AND coalesce(a.project, '') = metric_series.project AND a.type IS metric_series.type)"
        " AND (name, labels, project, type) NOT IN (SELECT name, coalesce(labels, ''),"
        "  coalesce(project, ''), type FROM metrics_raw WHERE timestamp >= (SELECT"
        "  coalesce(min(minute), '9') FROM metrics_dirty_minutes))"
    )
    count = conn.execute("SELECT count(*) FROM metric_series").fetchone()[0]
    write_state(conn, series_count=str(count))
    return cur.rowcount


def _first(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> Any:
    row = conn.execute(sql, args).fetchone()
    return row[0] if row else None


def run(agg: Aggregator, now: float) -> dict[str, int]:
    cuts = cutoffs(agg.config, now)
    state = agg.state()
    deleted = {"raw": 0, "minute": 0, "hour": 0}

    # Raw: never into a minute still waiting for aggregation (delete_raw stops there).
    raw_cut = cuts["raw"]
    start = state["raw_purged_before"]
    while start < raw_cut:
        # End the job after about CHUNK points, on a minute boundary.
        nth = agg.read(
            partial(
                _first,
                sql="SELECT timestamp FROM metrics_raw WHERE timestamp >= ? AND timestamp < ?"
                " ORDER BY timestamp LIMIT 1 OFFSET ?",
                args=(start, raw_cut, CHUNK),
            )
        )
        end = raw_cut
        if nth is not None:
            end = minute_of(nth)
            if end <= start:
                end = shift(end, MINUTE)
            end = min(end, raw_cut)
        count, reached = agg.write(partial(delete_raw, start=start, end=end))
        deleted["raw"] += count
        if reached < end:
            break
        start = end

    # Minute rows: whole hours, never past the raw horizon or an hour waiting for its roll-up.
    state = agg.state()
    first_dirty_hour = _first_value(agg, "SELECT min(hour) FROM metrics_dirty_hours")
    raw_horizon = state["raw_purged_before"]
    minute_cut = min(cuts["minute"], hour_of(raw_horizon)) if raw_horizon else ""
    if first_dirty_hour:
        minute_cut = min(minute_cut, first_dirty_hour)
    start = state["minute_purged_before"]
    while start < minute_cut:
        oldest = agg.read(
            partial(
                _first,
                sql="SELECT min(bucket) FROM metrics_aggregated WHERE resolution = 'minute'"
                " AND bucket >= ? AND bucket < ?",
                args=(start, minute_cut),
            )
        )
        end = minute_cut if oldest is None else min(shift(hour_of(oldest), HOUR), minute_cut)
        deleted["minute"] += agg.write(partial(delete_minutes, start=start, end=end))
        start = end

    # Hour rows: nothing depends on them being complete.
    while True:
        n = agg.write(lambda c: delete_hours(c, cuts["hour"]))
        deleted["hour"] += n
        if n < CHUNK:
            break

    agg.write(
        lambda c: c.execute("DELETE FROM metrics_received WHERE minute < ?", (cuts["received"],))
    )
    if deleted["minute"] or deleted["hour"]:
        # Forget first: a batch committed after the prune re-adds what it needs.
        agg.catalog.forget()
        agg.write(prune_catalog)
        agg.write(prune_series)
    return deleted


def _first_value(agg: Aggregator, sql: str) -> str | None:
    return agg.read(lambda c: _first(c, sql, ()))  # type: ignore[no-any-return]
