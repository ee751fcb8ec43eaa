"""GET /api/projects: the distinct projects, sorted."""

from __future__ import annotations

import sqlite3


def list_projects(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT DISTINCT project FROM errors ORDER BY project")]
