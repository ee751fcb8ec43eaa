"""Databases made by the earlier implementation open, keep every row and keep grouping.

The legacy database is written here by hand from the spec's description of
schema versions 1-4 (not with our own migrations), so a drift between our
migrations and the real old files would show up as a failure.
"""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from error_tracker import SERVICE as TRACKER
from error_tracker.database import MIGRATIONS
from shared.db import connect, migrate
from shared.timeutil import format_iso
from tests.conftest import AUTH, tracker_config

NOW = "(strftime('%Y-%m-%dT%H:%M:%SZ','now'))"

#: The schema after migration 4, as the spec describes it.
LEGACY_DDL = f"""
CREATE TABLE _meta (key TEXT PRIMARY KEY, value TEXT);
INSERT INTO _meta (key, value) VALUES ('schema_version', '4');
CREATE TABLE errors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint VARCHAR(32) NOT NULL,
    project VARCHAR(100) NOT NULL,
    exception_type VARCHAR(200) NOT NULL,
    message TEXT NOT NULL,
    traceback TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 1,
    first_seen DATETIME NOT NULL DEFAULT {NOW},
    last_seen DATETIME NOT NULL DEFAULT {NOW},
    resolved BOOLEAN NOT NULL DEFAULT 0,
    resolved_at DATETIME
);
CREATE TABLE error_occurrences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    error_id INTEGER NOT NULL REFERENCES errors(id) ON DELETE CASCADE,
    timestamp DATETIME NOT NULL DEFAULT {NOW},
    request_url VARCHAR(500),
    request_method VARCHAR(10),
    request_headers TEXT,
    user_id VARCHAR(100),
    extra TEXT,
    traceback TEXT NOT NULL
);
CREATE INDEX idx_fingerprint_resolved ON errors(fingerprint, resolved);
CREATE INDEX idx_last_seen ON errors(last_seen);
CREATE INDEX idx_resolved ON errors(resolved);
CREATE INDEX idx_project ON errors(project);
CREATE INDEX idx_occurrence_error_id ON error_occurrences(error_id);
"""


def legacy_fp(project: str, exc_type: str, file: str, line: int) -> str:
    return hashlib.md5(f"{project}:{exc_type}:{file}:{line}".encode()).hexdigest()


def py_tb(file: str, line: int) -> str:
    return f'Traceback (most recent call last):\n  File "{file}", line {line}, in h\nE: x\n'


#: Resolved recently enough that the retention run at start-up keeps it.
RECENT = format_iso(datetime.now(UTC) - timedelta(days=1))

JS_STACK = "TypeError: x\n    at render (https://shop.example.com/app.js:120:17)\n"

#: (project, type, message, traceback, file, line, count, first, last, resolved_at)
LEGACY_ERRORS: list[tuple[Any, ...]] = [
    (
        "shop",
        "ValueError",
        "bad order",
        py_tb("/srv/orders.py", 88),
        "/srv/orders.py",
        88,
        7,
        "2025-05-01T10:00:00Z",
        "2025-06-01T10:00:00Z",
        None,
    ),
    (
        "shop",
        "KeyError",
        "'sku'",
        py_tb("/srv/cart.py", 12),
        "/srv/cart.py",
        12,
        2,
        "2025-05-02T10:00:00Z",
        "2025-05-03T10:00:00Z",
        RECENT,
    ),
    (
        "web",
        "TypeError",
        "x is undefined",
        JS_STACK,
        "https://shop.example.com/app.js",
        120,
        3,
        "2025-05-05T10:00:00Z",
        "2025-05-06T10:00:00Z",
        None,
    ),
    (
        "api",
        "RuntimeError",
        "ünïcødé <b>",
        py_tb("/srv/api.py", 5),
        "/srv/api.py",
        5,
        1,
        "2025-04-01T00:00:00Z",
        "2025-04-01T00:00:00Z",
        None,
    ),
]

#: (error index, timestamp, url, method, headers, user, extra)
LEGACY_OCCURRENCES: list[tuple[Any, ...]] = [
    (
        0,
        "2025-05-01T10:00:00Z",
        "https://shop/o",
        "POST",
        '{"User-Agent": "ua1"}',
        "u1",
        '{"environment": "prod", "order": 1}',
    ),
    (
        0,
        "2025-06-01T10:00:00Z",
        "https://shop/o",
        "POST",
        '{"User-Agent": "ua2"}',
        "u2",
        '{"environment": "prod", "order": 2}',
    ),
    (1, "2025-05-03T10:00:00Z", None, None, None, None, None),
    (
        2,
        "2025-05-06T10:00:00Z",
        "https://shop.example.com/",
        "BROWSER",
        '{"User-Agent": "Firefox"}',
        None,
        '{"session_id": "sess-legacy"}',
    ),
    (3, "2025-04-01T00:00:00Z", None, "GET", "{}", "7", "free text, not JSON"),
]


def make_legacy_db(path: Path) -> list[int]:
    """The database as the earlier implementation left it; returns the error ids."""
    conn = sqlite3.connect(path)
    conn.executescript(LEGACY_DDL)
    ids = []
    for project, exc_type, msg, tb, file, line, count, first, last, resolved_at in LEGACY_ERRORS:
        cur = conn.execute(
            "INSERT INTO errors (fingerprint, project, exception_type, message, traceback, count,"
            " first_seen, last_seen, resolved, resolved_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                legacy_fp(project, exc_type, file, line),
                project,
                exc_type,
                msg,
                tb,
                count,
                first,
                last,
                1 if resolved_at else 0,
                resolved_at,
            ),
        )
        ids.append(cur.lastrowid)
    for index, ts, url, method, headers, user, extra in LEGACY_OCCURRENCES:
        conn.execute(
            "INSERT INTO error_occurrences (error_id, timestamp, request_url, request_method,"
            " request_headers, user_id, extra, traceback) VALUES (?,?,?,?,?,?,?,?)",
            (ids[index], ts, url, method, headers, user, extra, LEGACY_ERRORS[index][3]),
        )
    conn.commit()
    conn.close()
    return ids


def legacy_app(tmp_path: Path) -> tuple[TestClient, list[int]]:
    ids = make_legacy_db(tmp_path / "errors.db")
    return TestClient(TRACKER.app(tracker_config(tmp_path)), headers=AUTH), ids


def test_legacy_database_keeps_every_row(tmp_path: Path) -> None:
    client, ids = legacy_app(tmp_path)
    with client:
        listed = client.get("/api/errors", params={"resolved": "all"}).json()
        assert listed["total"] == len(LEGACY_ERRORS)
        by_id = {e["id"]: e for e in listed["errors"]}
        assert set(by_id) == set(ids)
        for error_id, row in zip(ids, LEGACY_ERRORS, strict=True):
            project, exc_type, msg, tb, file, line, count, first, last, resolved_at = row
            item = by_id[error_id]
            assert item["fingerprint"] == legacy_fp(project, exc_type, file, line)
            assert (item["project"], item["exception_type"], item["message"]) == (
                project,
                exc_type,
                msg,
            )
            assert (item["count"], item["first_seen"], item["last_seen"]) == (count, first, last)
            assert item["resolved"] is (resolved_at is not None)
            detail = client.get(f"/api/errors/{error_id}").json()
            assert detail["traceback"] == tb and detail["resolved_at"] == resolved_at

        shop = client.get(f"/api/errors/{ids[0]}").json()["occurrences"]
        assert [o["user_id"] for o in shop] == ["u2", "u1"]
        assert shop[0]["request_headers"] == {"User-Agent": "ua2"}
        assert shop[0]["extra"] == {"environment": "prod", "order": 2}
        assert shop[0]["timestamp"] == "2025-06-01T10:00:00Z"
        bare = client.get(f"/api/errors/{ids[1]}").json()["occurrences"][0]
        assert bare["request_headers"] is None and bare["extra"] is None
        odd = client.get(f"/api/errors/{ids[3]}").json()["occurrences"][0]
        assert odd["extra"] == "free text, not JSON" and odd["request_headers"] == {}

        assert by_id[ids[2]]["source"] == "browser"
        browser = client.get("/api/errors", params={"source": "browser"}).json()["errors"]
        assert [e["id"] for e in browser] == [ids[2]]
        sessions = client.get("/api/errors", params={"session_id": "sess-legacy"}).json()
        assert [e["id"] for e in sessions["errors"]] == [ids[2]]
        assert client.get("/api/projects").json() == {"projects": ["api", "shop", "web"]}
        unresolved = client.get("/api/errors").json()["errors"]
        assert [e["id"] for e in unresolved] == [ids[0], ids[2], ids[3]]  # by last_seen

    with sqlite3.connect(tmp_path / "errors.db") as conn:
        version = conn.execute("SELECT value FROM _meta WHERE key='schema_version'").fetchone()
        assert version == (str(len(MIGRATIONS)),)
        assert conn.execute("SELECT count(*) FROM error_occurrences").fetchone() == (
            len(LEGACY_OCCURRENCES),
        )


def test_new_reports_join_legacy_groups(tmp_path: Path) -> None:
    client, ids = legacy_app(tmp_path)
    with client:
        r = client.post(
            "/api/errors",
            json={
                "project": "shop",
                "exception_type": "ValueError",
                "message": "bad order again",
                "traceback": py_tb("/srv/orders.py", 88),
            },
        )
        assert r.status_code == 200, r.text
        assert r.json() == {
            "status": "incremented",
            "id": ids[0],
            "count": 8,
            "fingerprint": legacy_fp("shop", "ValueError", "/srv/orders.py", 88),
        }
        reopened = client.post(
            "/api/errors",
            json={
                "project": "shop",
                "exception_type": "KeyError",
                "message": "'sku'",
                "traceback": py_tb("/srv/cart.py", 12),
            },
        )
        assert reopened.status_code == 201
        assert reopened.json()["status"] == "reopened" and reopened.json()["id"] == ids[1]
        firefox = client.post(
            "/api/errors",
            json={
                "project": "web",
                "exception_type": "TypeError",
                "message": "x is undefined",
                "request_method": "BROWSER",
                "traceback": "render@https://shop.example.com/app.js:120:3\n",
            },
        )
        assert firefox.json()["id"] == ids[2] and firefox.json()["count"] == 4
        # Grouping v2: the legacy group took the report's grouping key, so the same
        # bug a line lower (a deploy moved it) still joins it, under its v1 fingerprint.
        moved = client.post(
            "/api/errors",
            json={
                "project": "shop",
                "exception_type": "ValueError",
                "message": "m",
                "traceback": py_tb("/srv/orders.py", 89),
            },
        )
        assert moved.status_code == 200 and moved.json() == {
            "status": "incremented",
            "id": ids[0],
            "count": 9,
            "fingerprint": legacy_fp("shop", "ValueError", "/srv/orders.py", 88),
        }
        elsewhere = client.post(
            "/api/errors",
            json={
                "project": "shop",
                "exception_type": "ValueError",
                "message": "m",
                "traceback": py_tb("/srv/orders.py", 88).replace(", in ", ", in other_"),
            },
        )
        assert elsewhere.status_code == 201 and elsewhere.json()["id"] > max(ids)
        detail = client.get(f"/api/errors/{ids[0]}").json()
        assert detail["first_seen"] == "2025-05-01T10:00:00Z"
        assert detail["occurrences"][0]["traceback"] == py_tb("/srv/orders.py", 89)
        assert len(detail["occurrences"]) == 4


def schema(conn: sqlite3.Connection) -> dict[str, Any]:
    """Columns, indexes (with their columns) and foreign keys of the two tables."""
    out: dict[str, Any] = {}
    for table in ("errors", "error_occurrences"):
        out[table] = {
            "columns": [
                (r[1], r[2].upper(), r[3], r[4], r[5])
                for r in conn.execute(f"PRAGMA table_info({table})")
            ],
            "indexes": {
                r[1]: [c[2] for c in conn.execute(f"PRAGMA index_info({r[1]})")]
                for r in conn.execute(f"PRAGMA index_list({table})")
                if not r[1].startswith("sqlite_autoindex")
            },
            "fks": [
                (r[2], r[3], r[4], r[6]) for r in conn.execute(f"PRAGMA foreign_key_list({table})")
            ],
        }
    return out


def test_fresh_schema_after_migration_4_matches_spec(tmp_path: Path) -> None:
    conn = connect(str(tmp_path / "fresh.db"))
    migrate(conn, MIGRATIONS[:4])
    got = schema(conn)
    conn.close()
    now = "strftime('%Y-%m-%dT%H:%M:%SZ','now')"
    assert [c[:4] for c in got["errors"]["columns"]] == [
        ("id", "INTEGER", 0, None),
        ("fingerprint", "VARCHAR(32)", 1, None),
        ("project", "VARCHAR(100)", 1, None),
        ("exception_type", "VARCHAR(200)", 1, None),
        ("message", "TEXT", 1, None),
        ("traceback", "TEXT", 1, None),
        ("count", "INTEGER", 1, "1"),
        ("first_seen", "DATETIME", 1, now),
        ("last_seen", "DATETIME", 1, now),
        ("resolved", "BOOLEAN", 1, "0"),
        ("resolved_at", "DATETIME", 0, None),
    ]
    assert got["errors"]["columns"][0][4] == 1  # primary key
    assert [c[:4] for c in got["error_occurrences"]["columns"]] == [
        ("id", "INTEGER", 0, None),
        ("error_id", "INTEGER", 1, None),
        ("timestamp", "DATETIME", 1, now),
        ("request_url", "VARCHAR(500)", 0, None),
        ("request_method", "VARCHAR(10)", 0, None),
        ("request_headers", "TEXT", 0, None),
        ("user_id", "VARCHAR(100)", 0, None),
        ("extra", "TEXT", 0, None),
        ("traceback", "TEXT", 1, None),
    ]
    assert got["errors"]["indexes"] == {
        "idx_fingerprint_resolved": ["fingerprint", "resolved"],
        "idx_last_seen": ["last_seen"],
        "idx_resolved": ["resolved"],
        "idx_project": ["project"],
    }
    assert got["error_occurrences"]["indexes"] == {"idx_occurrence_error_id": ["error_id"]}
    assert got["error_occurrences"]["fks"] == [("errors", "error_id", "id", "CASCADE")]


def test_legacy_and_fresh_databases_end_with_the_same_schema(tmp_path: Path) -> None:
    make_legacy_db(tmp_path / "legacy.db")
    legacy = connect(str(tmp_path / "legacy.db"))
    fresh = connect(str(tmp_path / "fresh.db"))
    legacy_before = schema(legacy)
    migrate(fresh, MIGRATIONS[:4])
    assert schema(fresh) == legacy_before  # our 1-4 build exactly the old schema
    migrate(legacy, MIGRATIONS)
    migrate(fresh, MIGRATIONS)
    assert schema(legacy) == schema(fresh)
    legacy.close()
    fresh.close()


@pytest.mark.parametrize("version", [1, 2, 3])
def test_partial_old_versions_migrate_forward(tmp_path: Path, version: int) -> None:
    path = str(tmp_path / "old.db")
    conn = connect(path)
    migrate(conn, MIGRATIONS[:version])
    conn.execute(
        "INSERT INTO errors (fingerprint, project, exception_type, message, traceback)"
        " VALUES ('f', 'p', 'E', 'm', 't')"
    )
    conn.close()
    with TestClient(TRACKER.app(tracker_config(tmp_path, DATABASE_PATH=path)), headers=AUTH) as c:
        items = c.get("/api/errors").json()["errors"]
        assert [(e["project"], e["count"], e["resolved"]) for e in items] == [("p", 1, False)]
        assert items[0]["first_seen"].endswith("Z")
