"""Schema: versions 1-4 as specified; the FTS index follows the table through its triggers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from log_viewer.database import MIGRATIONS
from shared.db import connect, migrate


def database(path: Path, upto: int = len(MIGRATIONS)) -> sqlite3.Connection:
    conn = connect(str(path))
    migrate(conn, MIGRATIONS[:upto])
    return conn


def test_the_first_four_migrations_make_the_specified_schema(tmp_path: Path) -> None:
    conn = database(tmp_path / "logs.db", 4)
    columns = [(r[1], r[2], r[3], r[4]) for r in conn.execute("PRAGMA table_info(log_entries)")]
    assert columns == [
        ("id", "INTEGER", 0, None),
        ("timestamp", "DATETIME", 1, None),
        ("container", "VARCHAR(200)", 1, None),
        ("stream", "VARCHAR(10)", 1, "'stdout'"),
        ("level", "VARCHAR(10)", 1, "'INFO'"),
        ("message", "TEXT", 1, None),
        ("raw", "TEXT", 0, None),
    ]
    cursors = [(r[1], r[2], r[3], r[4]) for r in conn.execute("PRAGMA table_info(cursors)")]
    assert cursors == [
        ("id", "INTEGER", 0, None),
        ("container_id", "VARCHAR(200)", 1, None),
        ("file_path", "TEXT", 1, None),
        ("position", "INTEGER", 1, "0"),
        ("inode", "INTEGER", 1, "0"),
        ("updated_at", "DATETIME", 1, None),
    ]
    names = {
        r[0]
        for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('index', 'trigger')")
        if not r[0].startswith("sqlite_")
    }
    assert names == {
        "idx_timestamp",
        "idx_container",
        "idx_level",
        "idx_container_timestamp",
        "log_entries_ai",
        "log_entries_ad",
        "log_entries_au",
    }


def test_the_index_follows_inserts_updates_and_deletes(tmp_path: Path) -> None:
    conn = database(tmp_path / "logs.db")

    def found(term: str) -> list[int]:
        return [
            r[0]
            for r in conn.execute(
                "SELECT rowid FROM log_entries_fts WHERE log_entries_fts MATCH ? ORDER BY rowid",
                (term,),
            )
        ]

    insert = "INSERT INTO log_entries (timestamp, container, message) VALUES ('t', 'web', ?)"
    conn.execute(insert, ("payment failed for order 17",))
    conn.execute(insert, ("payment accepted",))
    assert found("payment") == [1, 2] and found('"payment failed"') == [1]
    conn.execute("UPDATE log_entries SET message = 'refund issued' WHERE id = 2")
    assert found("payment") == [1] and found("refund") == [2]
    conn.execute("DELETE FROM log_entries WHERE id = 1")
    assert found("payment") == []
    conn.execute("INSERT INTO log_entries_fts(log_entries_fts) VALUES ('integrity-check')")


def test_a_database_of_the_earlier_implementation_opens_and_stays_searchable(
    tmp_path: Path,
) -> None:
    """Versions 1-4 with rows and FTS content, as the earlier implementation left them."""
    from starlette.testclient import TestClient

    from log_viewer import SERVICE
    from log_viewer.config import from_env

    path = tmp_path / "logs.db"
    conn = database(path, 4)
    conn.executemany(
        "INSERT INTO log_entries (timestamp, container, stream, level, message, raw)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            ("2026-11-30T10:00:00", "web", "stdout", "INFO", "GET / 200", '{"log":"x"}'),
            ("2026-11-30T10:00:01", "web", "stderr", "ERROR", "payment failed", None),
        ],
    )
    conn.execute(
        "INSERT INTO cursors (container_id, file_path, position, inode, updated_at)"
        " VALUES ('abc', '/var/lib/docker/containers/abc/abc-json.log', 512, 77,"
        " '2026-11-30T10:00:01')"
    )
    conn.close()

    env = {"API_KEY": "k", "DATABASE_PATH": str(path), "LOG_SOURCES": str(tmp_path / "none")}
    with TestClient(SERVICE.app(from_env(env)), headers={"X-API-Key": "k"}) as client:
        body = client.get("/api/logs").json()
        assert body["total"] == 2
        assert [e["message"] for e in body["logs"]] == ["payment failed", "GET / 200"]
        assert client.get("/api/logs", params={"q": "payment"}).json()["total"] == 1
        assert client.get("/api/stats").json()["by_level"] == {"ERROR": 1, "INFO": 1}
    check = sqlite3.connect(path)
    assert check.execute("SELECT value FROM _meta WHERE key = 'schema_version'").fetchone() == (
        str(len(MIGRATIONS)),
    )
    assert check.execute("SELECT position, inode, pending FROM cursors").fetchone() == (
        512,
        77,
        None,
    )
    check.close()
