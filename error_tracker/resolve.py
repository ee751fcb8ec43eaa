"""POST /api/errors/{id}/resolve: idempotent, keeps the first resolved_at."""

from __future__ import annotations

import sqlite3

from shared.timeutil import now_iso


def resolve(conn: sqlite3.Connection, error_id: int) -> bool:
    """Mark resolved; False when there is no such error."""
    cur = conn.execute(
        "UPDATE errors SET resolved = 1, resolved_at = COALESCE(resolved_at, ?) WHERE id = ?",
        (now_iso(), error_id),
    )
    return cur.rowcount > 0
