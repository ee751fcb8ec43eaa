"""GET /api/logs/containers and /api/logs/stats (also at /api/containers, /api/stats)."""

from __future__ import annotations

import sqlite3
from typing import Any


def containers(conn: sqlite3.Connection) -> dict[str, Any]:
    rows = conn.execute(
        "SELECT container, count(*) FROM log_entries GROUP BY container ORDER BY container"
    ).fetchall()
    return {"containers": [{"name": name, "log_count": n} for name, n in rows]}


def stats(conn: sqlite3.Connection) -> dict[str, Any]:
    total, oldest, newest = conn.execute(
        "SELECT count(*), min(timestamp), max(timestamp) FROM log_entries"
    ).fetchone()
    by_level = dict(
        conn.execute("SELECT level, count(*) FROM log_entries GROUP BY level").fetchall()
    )
    by_container = dict(
        conn.execute("SELECT container, count(*) FROM log_entries GROUP BY container").fetchall()
    )
    return {
        "total_logs": total,
        "oldest_log": oldest,
        "newest_log": newest,
        "by_level": by_level,
        "by_container": by_container,
    }
