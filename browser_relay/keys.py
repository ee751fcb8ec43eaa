"""DSN keys: the admin API's create/list/deactivate and `DSN_KEYS` seeding; every
browser request is checked against them in memory (shared.keys.KeyRing)."""

from __future__ import annotations

import sqlite3
from typing import Any

from shared.keys import new_key
from shared.timeutil import now_iso

__all__ = ["active_keys", "create", "deactivate", "list_keys", "new_key", "seed"]


def create(conn: sqlite3.Connection, project: str) -> dict[str, Any]:
    key = new_key()
    conn.execute(
        "INSERT INTO dsn_keys (public_key, project, created_at, active) VALUES (?, ?, ?, 1)",
        (key, project, now_iso()),
    )
    return {"public_key": key, "project": project}


def seed(conn: sqlite3.Connection, pairs: tuple[tuple[str, str], ...]) -> int:
    """`DSN_KEYS` at start: each key inserted when absent (a deactivated one stays so)."""
    added = 0
    for project, key in pairs:
        added += conn.execute(
            "INSERT INTO dsn_keys (public_key, project, created_at, active) VALUES (?, ?, ?, 1)"
            " ON CONFLICT(public_key) DO NOTHING",
            (key, project, now_iso()),
        ).rowcount
    return added


def list_keys(conn: sqlite3.Connection) -> dict[str, Any]:
    rows = conn.execute(
        "SELECT id, public_key, project, active, created_at FROM dsn_keys ORDER BY id"
    ).fetchall()
    return {
        "keys": [
            {
                "id": r[0],
                "public_key": r[1],
                "project": r[2],
                "active": bool(r[3]),
                "created_at": r[4],
            }
            for r in rows
        ]
    }


def deactivate(conn: sqlite3.Connection, key_id: int) -> bool:
    """Soft delete: the row stays (its key is never handed out again); False when unknown."""
    return conn.execute("UPDATE dsn_keys SET active = 0 WHERE id = ?", (key_id,)).rowcount > 0


def active_keys(conn: sqlite3.Connection) -> dict[bytes, str]:
    rows = conn.execute("SELECT public_key, project FROM dsn_keys WHERE active").fetchall()
    return {str(key).encode(): str(project) for key, project in rows}
