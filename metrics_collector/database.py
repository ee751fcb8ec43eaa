"""Metrics Collector schema: versions 1-6 as the earlier implementation made them, then ours.

Ours (7+) add what aggregation and cheap reads need: the metric type and
Web Vitals threshold counts on aggregated rows, a small key/value state
table (tier marks and purge horizons, see aggregation.py), the dirty
minute/hour sets, a catalog of (name, type, project) for the names and
projects lists, received-point counts per minute for /health, and indexes
that match our queries (dropping the ones that only slowed inserts down).
"""

from __future__ import annotations

import sqlite3
import time

from shared.db import Migration
from shared.timeutil import MINUTE, ceil_hour, floor_epoch, hour_of, shift


def _backfill_type(conn: sqlite3.Connection) -> None:
    """7: aggregated rows get a type; old ones take it from raw points of the name, else a guess."""
    conn.execute("ALTER TABLE metrics_aggregated ADD COLUMN type VARCHAR(20)")
    conn.execute(
        "UPDATE metrics_aggregated SET type = coalesce("
        " (SELECT r.type FROM metrics_raw r WHERE r.name = metrics_aggregated.name LIMIT 1),"
        " CASE WHEN p50 IS NOT NULL THEN 'histogram' ELSE 'gauge' END)"
    )


_TABLES = """
CREATE TABLE metrics_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE metrics_dirty_minutes (minute TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE metrics_dirty_hours (hour TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE metric_catalog (
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    project TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (name, type, project)
) WITHOUT ROWID;
CREATE TABLE metrics_received (minute TEXT PRIMARY KEY, count INTEGER NOT NULL) WITHOUT ROWID;
"""


def _one(conn: sqlite3.Connection, sql: str) -> str | None:
    row = conn.execute(sql).fetchone()
    return row[0] if row else None


def _initial_state(conn: sqlite3.Connection) -> None:
    """9: state tables, seeded so a database of the earlier implementation carries on.

    Its raw points with no minute row yet become dirty minutes, its minute
    rows with no hour row dirty hours; everything else counts as aggregated.
    The purge horizons start at the oldest data kept, so late points for
    older minutes are merged into existing rows rather than replacing them.
    """
    for statement in _TABLES.strip().split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(
        "INSERT OR IGNORE INTO metrics_dirty_minutes (minute)"
        " SELECT DISTINCT substr(timestamp, 1, 16) || ':00Z' AS m FROM metrics_raw"
        " WHERE m NOT IN (SELECT bucket FROM metrics_aggregated WHERE resolution = 'minute')"
    )
    conn.execute(
        "INSERT OR IGNORE INTO metrics_dirty_hours (hour)"
        " SELECT DISTINCT substr(bucket, 1, 13) || ':00:00Z' AS h FROM metrics_aggregated"
        " WHERE resolution = 'minute'"
        " AND h NOT IN (SELECT bucket FROM metrics_aggregated WHERE resolution = 'hour')"
    )
    oldest_raw = _one(conn, "SELECT min(timestamp) FROM metrics_raw")
    oldest_minute = _one(
        conn, "SELECT min(bucket) FROM metrics_aggregated WHERE resolution = 'minute'"
    )
    newest_minute = _one(
        conn, "SELECT max(bucket) FROM metrics_aggregated WHERE resolution = 'minute'"
    )
    newest_hour = _one(conn, "SELECT max(bucket) FROM metrics_aggregated WHERE resolution = 'hour'")
    first_dirty_minute = _one(conn, "SELECT min(minute) FROM metrics_dirty_minutes")
    first_dirty_hour = _one(conn, "SELECT min(hour) FROM metrics_dirty_hours")

    raw_purged = ""
    if oldest_raw:
        raw_purged = oldest_raw[:16] + ":00Z"
    elif newest_minute:
        raw_purged = shift(newest_minute, MINUTE)
    minute_purged = ceil_hour(oldest_minute) if oldest_minute else ""
    if raw_purged and minute_purged > hour_of(raw_purged):
        minute_purged = hour_of(raw_purged)
    aggregated_through = first_dirty_minute or (
        shift(newest_minute, MINUTE) if newest_minute else ""
    )
    hours_through = first_dirty_hour or (shift(newest_hour, 3600) if newest_hour else "")
    if aggregated_through and hours_through > aggregated_through:
        hours_through = hour_of(aggregated_through)
    state = {
        "aggregated_through": aggregated_through,
        "hours_through": hours_through,
        "raw_purged_before": raw_purged,
        "minute_purged_before": minute_purged,
        "hour_purged_before": "",
    }
    conn.executemany("INSERT INTO metrics_state (key, value) VALUES (?, ?)", state.items())
    conn.execute(
        "INSERT OR IGNORE INTO metric_catalog (name, type, project)"
        " SELECT DISTINCT name, type, coalesce(project, '') FROM metrics_raw"
    )
    conn.execute(
        "INSERT OR IGNORE INTO metric_catalog (name, type, project)"
        " SELECT DISTINCT name, type, coalesce(project, '') FROM metrics_aggregated"
    )
    since = floor_epoch(time.time() - 86_400, MINUTE)
    conn.execute(
        "INSERT INTO metrics_received (minute, count)"
        " SELECT substr(timestamp, 1, 16) || ':00Z' AS m, count(*) FROM metrics_raw"
        " WHERE timestamp >= ? GROUP BY m",
        (since,),
    )


def _series(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE metric_series (name TEXT NOT NULL, labels TEXT NOT NULL,"
        " project TEXT NOT NULL, type TEXT NOT NULL,"
        " PRIMARY KEY (name, labels, project, type)) WITHOUT ROWID"
    )
    for table in ("metrics_aggregated", "metrics_raw"):
        conn.execute(
            "INSERT OR IGNORE INTO metric_series (name, labels, project, type)"
            " SELECT DISTINCT name, coalesce(labels, ''), coalesce(project, ''),"
            f" coalesce(type, 'gauge') FROM {table}"
        )
    count = conn.execute("SELECT count(*) FROM metric_series").fetchone()[0]
    write_state(conn, series_count=str(count))


def _sketches(conn: sqlite3.Connection) -> None:
    """13: a quantile sketch per aggregated histogram row, so merges never average percentiles.

    Rows from before keep their stored percentiles (reads mark them approximate).
    Minutes whose raw points are surely all there (after the oldest, which the
    earlier implementation may have purged half-way) are rebuilt by the next run,
    so recent data gains sketches at once. The covering index goes: a query now
    reads the sketch from the row anyway, and a narrower index is cheaper to write.
    """
    conn.execute("ALTER TABLE metrics_aggregated ADD COLUMN sketch BLOB")
    conn.execute("DROP INDEX IF EXISTS idx_agg_series")
    conn.execute(
        "CREATE INDEX idx_agg_series ON metrics_aggregated(name, resolution, bucket, project)"
    )
    purged = _one(conn, "SELECT value FROM metrics_state WHERE key = 'raw_purged_before'") or ""
    conn.execute(
        "INSERT OR IGNORE INTO metrics_dirty_minutes (minute)"
        " SELECT DISTINCT substr(timestamp, 1, 16) || ':00Z' AS m FROM metrics_raw"
        " WHERE m > ? AND type = 'histogram'",
        (purged,),
    )


def _merged(conn: sqlite3.Connection) -> None:
    """14: per name, project and type, every series of a bucket merged into one row.

    The chart an operator opens first (a metric, no label filter) then reads
    one row per bucket, with exact minute percentiles (pooled raw values),
    instead of merging the sketches of every series on each query: a day of
    15 series at minute resolution was 21,600 sketch merges, ~150 ms. Same
    columns as metrics_aggregated (labels always NULL), so the same code
    writes both. Existing rows are merged once here (legacy rows without a
    sketch merge count-weighted, as reads of them always have).
    """
    from metrics_collector.aggregation import backfill_merged  # the roll-up code

    conn.execute(
        "CREATE TABLE metrics_merged (id INTEGER PRIMARY KEY, bucket DATETIME NOT NULL,"
        " resolution VARCHAR(10) NOT NULL, name VARCHAR(200) NOT NULL, labels TEXT,"
        " count INTEGER NOT NULL DEFAULT 0, sum REAL NOT NULL DEFAULT 0,"
        " min REAL NOT NULL DEFAULT 0, max REAL NOT NULL DEFAULT 0, avg REAL NOT NULL DEFAULT 0,"
        " p50 REAL, p95 REAL, p99 REAL, project VARCHAR(100), type VARCHAR(20),"
        " n_good INTEGER, n_poor INTEGER, sketch BLOB)"
    )
    conn.execute("CREATE INDEX idx_merged ON metrics_merged(name, resolution, bucket)")
    backfill_merged(conn)


MIGRATIONS: list[Migration] = [
    # 1: raw points.
    """
    CREATE TABLE metrics_raw (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        timestamp DATETIME NOT NULL,
        name VARCHAR(200) NOT NULL,
        labels TEXT,
        value REAL NOT NULL,
        type VARCHAR(20) NOT NULL
    );
    """,
    # 2: minute and hour aggregates.
    """
    CREATE TABLE metrics_aggregated (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        bucket DATETIME NOT NULL,
        resolution VARCHAR(10) NOT NULL,
        name VARCHAR(200) NOT NULL,
        labels TEXT,
        count INTEGER NOT NULL DEFAULT 0,
        sum REAL NOT NULL DEFAULT 0,
        min REAL NOT NULL DEFAULT 0,
        max REAL NOT NULL DEFAULT 0,
        avg REAL NOT NULL DEFAULT 0,
        p50 REAL,
        p95 REAL,
        p99 REAL
    );
    """,
    # 3: lookups by time and name.
    """
    CREATE INDEX idx_raw_timestamp ON metrics_raw(timestamp);
    CREATE INDEX idx_raw_name ON metrics_raw(name);
    CREATE INDEX idx_raw_name_timestamp ON metrics_raw(name, timestamp);
    CREATE INDEX idx_agg_bucket ON metrics_aggregated(bucket);
    CREATE INDEX idx_agg_name_resolution ON metrics_aggregated(name, resolution);
    CREATE INDEX idx_agg_name_resolution_bucket ON metrics_aggregated(name, resolution, bucket);
    """,
    # 4: projects on raw points.
    "ALTER TABLE metrics_raw ADD COLUMN project VARCHAR(100);",
    # 5: projects on aggregates.
    "ALTER TABLE metrics_aggregated ADD COLUMN project VARCHAR(100);",
    # 6: project filters.
    """
    CREATE INDEX idx_raw_project ON metrics_raw(project);
    CREATE INDEX idx_agg_project ON metrics_aggregated(project);
    """,
    # 7 (ours): the type of an aggregated series.
    _backfill_type,
    # 8 (ours): Web Vitals samples rated good / poor per aggregate (the rest needs improvement).
    """
    ALTER TABLE metrics_aggregated ADD COLUMN n_good INTEGER;
    ALTER TABLE metrics_aggregated ADD COLUMN n_poor INTEGER;
    """,
    # 9 (ours): aggregation state, dirty sets, catalog, received counts.
    _initial_state,
    # 10 (ours): an index for tier scans (aggregation, retention, dashboard). Raw points
    # keep only their timestamp index: every raw read here is a recent time range, and
    # each extra index on the hottest insert path cost ~40% of ingest throughput.
    # name_resolution is a prefix of name_resolution_bucket.
    """
    CREATE INDEX idx_agg_resolution_bucket ON metrics_aggregated(resolution, bucket);
    DROP INDEX idx_raw_name;
    DROP INDEX idx_raw_name_timestamp;
    DROP INDEX idx_raw_project;
    DROP INDEX idx_agg_name_resolution;
    """,
    # 11 (ours): GET /api/metrics reads a day of minute rows of one name (thousands of
    # rows); a covering index serves it without a table lookup per row (labels stay out:
    # they would make every aggregated insert ~25% dearer for the filtered case). idx_agg_bucket
    # and idx_agg_project have no reader here. Labels that are not JSON (nothing we
    # store, but a database of the earlier implementation might) become NULL, so
    # label filters can use json_extract without guarding every row.
    """
    UPDATE metrics_raw SET labels = NULL WHERE labels IS NOT NULL AND NOT json_valid(labels);
    UPDATE metrics_aggregated SET labels = NULL
        WHERE labels IS NOT NULL AND NOT json_valid(labels);
    DROP INDEX idx_agg_name_resolution_bucket;
    DROP INDEX idx_agg_bucket;
    DROP INDEX idx_agg_project;
    CREATE INDEX idx_agg_series ON metrics_aggregated(name, resolution, bucket, project,
        count, sum, min, max, p50, p95, p99);
    """,
    # 12 (ours): every distinct series with data, so MAX_SERIES can bound them (a
    # label with unbounded values would otherwise grow every table without end).
    _series,
    # 13 (ours): mergeable quantile sketches on aggregated rows.
    _sketches,
    # 14 (ours): all series of a name merged per bucket, for unfiltered queries.
    _merged,
]


STATE_KEYS = (
    "aggregated_through",
    "hours_through",
    "raw_purged_before",
    "minute_purged_before",
    "hour_purged_before",
    "last_aggregation",
)


def read_state(conn: sqlite3.Connection) -> dict[str, str]:
    state = dict.fromkeys(STATE_KEYS, "")
    state.update(conn.execute("SELECT key, value FROM metrics_state").fetchall())
    return state


def write_state(conn: sqlite3.Connection, **values: str) -> None:
    conn.executemany(
        "INSERT INTO metrics_state (key, value) VALUES (?, ?)"
        " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [(key, str(value)) for key, value in values.items()],
    )
