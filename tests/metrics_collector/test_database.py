"""Schema: versions 1-6 exactly as specified; a version-6 database migrates and keeps its rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from metrics_collector import SERVICE as COLLECTOR
from metrics_collector.config import from_env
from metrics_collector.database import MIGRATIONS
from shared.db import connect, migrate
from tests.metrics_collector.conftest import (
    AUTH,
    agg_rows,
    aggregate,
    assert_merged_consistent,
    collector_env,
    minutes_ago,
    sql,
)


def columns(conn: sqlite3.Connection, table: str) -> list[tuple[str, str, int, str | None]]:
    return [(r[1], r[2], r[3], r[4]) for r in conn.execute(f"PRAGMA table_info({table})")]


def indexes(conn: sqlite3.Connection) -> dict[str, list[str]]:
    out = {}
    for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'idx_%'"
    ):
        out[name] = [r[2] for r in conn.execute(f"PRAGMA index_info({name})")]
    return out


def version_6(path: Path) -> sqlite3.Connection:
    conn = connect(str(path))
    migrate(conn, MIGRATIONS[:6])
    return conn


def test_first_six_migrations_make_the_specified_schema(tmp_path: Path) -> None:
    conn = version_6(tmp_path / "v6.db")
    assert columns(conn, "metrics_raw") == [
        ("id", "INTEGER", 0, None),
        ("timestamp", "DATETIME", 1, None),
        ("name", "VARCHAR(200)", 1, None),
        ("labels", "TEXT", 0, None),
        ("value", "REAL", 1, None),
        ("type", "VARCHAR(20)", 1, None),
        ("project", "VARCHAR(100)", 0, None),
    ]
    assert columns(conn, "metrics_aggregated") == [
        ("id", "INTEGER", 0, None),
        ("bucket", "DATETIME", 1, None),
        ("resolution", "VARCHAR(10)", 1, None),
        ("name", "VARCHAR(200)", 1, None),
        ("labels", "TEXT", 0, None),
        ("count", "INTEGER", 1, "0"),
        ("sum", "REAL", 1, "0"),
        ("min", "REAL", 1, "0"),
        ("max", "REAL", 1, "0"),
        ("avg", "REAL", 1, "0"),
        ("p50", "REAL", 0, None),
        ("p95", "REAL", 0, None),
        ("p99", "REAL", 0, None),
        ("project", "VARCHAR(100)", 0, None),
    ]
    assert indexes(conn) == {
        "idx_raw_timestamp": ["timestamp"],
        "idx_raw_name": ["name"],
        "idx_raw_name_timestamp": ["name", "timestamp"],
        "idx_agg_bucket": ["bucket"],
        "idx_agg_name_resolution": ["name", "resolution"],
        "idx_agg_name_resolution_bucket": ["name", "resolution", "bucket"],
        "idx_raw_project": ["project"],
        "idx_agg_project": ["project"],
    }
    autoinc = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'metrics_raw'").fetchone()
    assert "AUTOINCREMENT" in autoinc[0]
    assert conn.execute("SELECT value FROM _meta WHERE key = 'schema_version'").fetchone() == ("6",)


def test_a_version_6_database_opens_keeps_its_rows_and_carries_on(tmp_path: Path) -> None:
    path = tmp_path / "metrics.db"
    conn = version_6(path)
    done, pending = minutes_ago(20), minutes_ago(10)
    d_bucket, p_bucket = done[:17] + "00Z", pending[:17] + "00Z"
    raw = (
        "INSERT INTO metrics_raw (timestamp, name, labels, value, type, project)"
        " VALUES (?, ?, ?, ?, ?, ?)"
    )
    conn.execute("BEGIN")
    conn.executemany(raw, [(done, "lat", '{"r":"/a"}', v, "histogram", "shop") for v in (1, 2)])
    conn.executemany(raw, [(pending, "lat", '{"r":"/a"}', v, "histogram", "shop") for v in (5, 7)])
    conn.execute(  # what the earlier implementation aggregated for the first minute
        "INSERT INTO metrics_aggregated (bucket, resolution, name, labels, count, sum, min, max,"
        " avg, p50, p95, p99, project) VALUES (?, 'minute', 'lat', '{\"r\":\"/a\"}', 2, 3, 1, 2,"
        " 1.5, 1, 2, 2, 'shop')",
        (d_bucket,),
    )
    conn.execute(
        "INSERT INTO metrics_aggregated (bucket, resolution, name, labels, count, sum, min, max,"
        " avg, p50, p95, p99, project) VALUES ('2020-01-01T00:00:00Z', 'hour', 'old', NULL,"
        " 4, 8, 1, 3, 2, NULL, NULL, NULL, NULL)"
    )
    conn.execute("COMMIT")
    conn.close()

    config = from_env(collector_env(tmp_path))
    with TestClient(COLLECTOR.app(config), headers=AUTH) as client:
        assert sql(client, "SELECT value FROM _meta WHERE key = 'schema_version'") == [
            (str(len(MIGRATIONS)),)
        ]
        assert sql(client, "SELECT count(*) FROM metrics_raw") == [(4,)]
        assert sql(client, "SELECT name, type FROM metrics_aggregated ORDER BY id") == [
            ("lat", "histogram"),
            ("old", "gauge"),
        ]
        assert client.get("/api/metrics/names").json()["metrics"] == [
            {"name": "lat", "type": "histogram"},
            {"name": "old", "type": "gauge"},
        ]
        assert client.get("/api/projects").json()["projects"] == ["shop"]
        # Only the minute the earlier implementation had not aggregated is pending.
        assert sql(client, "SELECT minute FROM metrics_dirty_minutes") == [(p_bucket,)]
        data = client.get("/api/metrics", params={"name": "lat", "period": "1h"}).json()["data"]
        assert [(d["bucket"], d["count"], d["sum"]) for d in data] == [
            (d_bucket, 2, 3.0),
            (p_bucket, 2, 12.0),
        ]
        aggregate(client)
        minutes = agg_rows(client, "minute")
        assert [(r[0], r[5], r[6]) for r in minutes] == [(d_bucket, 2, 3.0), (p_bucket, 2, 12.0)]
        assert (
            client.get("/api/metrics", params={"name": "lat", "period": "1h"}).json()["data"]
            == data
        )


def test_rows_from_before_sketches_are_marked_approximate(tmp_path: Path) -> None:
    """A version-12 database: its aggregated rows have percentiles but no sketch.

    Answers that rest on them say `approximate`; minutes whose raw points are
    all still there are rebuilt by the next run and gain sketches (exact again).
    """
    path = tmp_path / "metrics.db"
    conn = connect(str(path))
    migrate(conn, MIGRATIONS[:12])
    old, recent = minutes_ago(300), minutes_ago(10)
    recent_next = minutes_ago(9)
    conn.execute("BEGIN")
    agg = (
        "INSERT INTO metrics_aggregated (bucket, resolution, name, labels, count, sum, min, max,"
        " avg, p50, p95, p99, project, type) VALUES (?, 'minute', 'lat', ?, ?, ?, ?, ?, ?, ?,"
        " ?, ?, NULL, 'histogram')"
    )
    for labels, values in (('{"r":"/a"}', (1.0, 2.0)), ('{"r":"/b"}', (10.0, 30.0))):
        n, total = len(values), sum(values)
        low, high = min(values), max(values)
        for bucket in (old, recent):  # p50 is the low value, p95 and p99 the high one
            conn.execute(agg, (bucket, labels, n, total, low, high, total / n, low, high, high))
    raw = (
        "INSERT INTO metrics_raw (timestamp, name, labels, value, type) VALUES (?, 'lat', ?, ?,"
        " 'histogram')"
    )
    for labels, values in (('{"r":"/a"}', (1.0, 2.0)), ('{"r":"/b"}', (10.0, 30.0))):
        conn.executemany(raw, [(minutes_ago(11), labels, v) for v in values])  # the oldest raw
        conn.executemany(raw, [(recent, labels, v) for v in values])
    conn.execute(
        "UPDATE metrics_state SET value = ? WHERE key IN ('aggregated_through')", (recent_next,)
    )
    conn.execute(
        "UPDATE metrics_state SET value = ? WHERE key = 'raw_purged_before'", (minutes_ago(11),)
    )
    conn.execute("COMMIT")
    conn.close()

    config = from_env(collector_env(tmp_path))
    with TestClient(COLLECTOR.app(config), headers=AUTH) as client:
        assert sql(client, "SELECT count(*) FROM metrics_aggregated WHERE sketch IS NULL") == [(4,)]
        # Migration 14 merged the two series of each minute for unfiltered queries.
        assert sql(client, "SELECT bucket, count, sum, p99 FROM metrics_merged ORDER BY 1") == [
            (old, 4, 43.0, pytest.approx((2.0 * 2 + 30.0 * 2) / 4)),
            (recent, 4, 43.0, pytest.approx((2.0 * 2 + 30.0 * 2) / 4)),
        ]
        assert_merged_consistent(client)
        assert sql(client, "SELECT minute FROM metrics_dirty_minutes") == [(recent,)]

        def answer(period: str) -> dict:
            data = client.get("/api/metrics", params={"name": "lat", "period": period}).json()
            return {d["bucket"]: d for d in data["data"]}

        before = answer("6h")
        assert before[old]["approximate"] is True
        assert before[recent]["approximate"] is True
        # A single legacy row is approximate as well, though its own numbers stand.
        one = client.get(
            "/api/metrics", params={"name": "lat", "period": "6h", "labels": "r:/a"}
        ).json()["data"]
        assert [(d["p99"], d.get("approximate")) for d in one][:1] == [(2.0, True)]
        aggregate(client)
        after = answer("6h")
        assert after[old]["approximate"] is True  # its raw points are long gone
        assert "approximate" not in after[recent]  # rebuilt from raw, with sketches
        assert (after[recent]["count"], after[recent]["p99"]) == (4, 30.0)
        assert_merged_consistent(client)
