"""Sentry DSNs: per project a numeric id and public keys, kept in the tracker's database.

Any Sentry SDK reports here by its DSN, `http://<public key>@<host>:<port>/<id>`.
`POST /api/dsn` makes a key (and the project's id on first use), `GET` lists
them with their DSN strings, `DELETE /api/dsn/{id}/{key}` revokes one;
`SENTRY_DSN_KEYS` seeds keys at start. Sentry traffic is checked against the
active keys in memory (shared.keys.KeyRing), never with a read per event.
"""

from __future__ import annotations

import sqlite3
from typing import Any
from urllib.parse import urlsplit

from shared.keys import new_key
from shared.timeutil import now_iso

#: What a key stands for: (project id, project).
Owner = tuple[int, str]

MIGRATION = """
CREATE TABLE sentry_projects (
    project_id INTEGER PRIMARY KEY AUTOINCREMENT,
    project VARCHAR(100) NOT NULL UNIQUE
);
CREATE TABLE sentry_keys (
    public_key VARCHAR(64) PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES sentry_projects(project_id),
    active INTEGER NOT NULL DEFAULT 1,
    created_at DATETIME NOT NULL
) WITHOUT ROWID;
"""


def _project_id(conn: sqlite3.Connection, project: str) -> int:
    conn.execute(
        "INSERT INTO sentry_projects (project) VALUES (?) ON CONFLICT(project) DO NOTHING",
        (project,),
    )
    row = conn.execute(
        "SELECT project_id FROM sentry_projects WHERE project = ?", (project,)
    ).fetchone()
    return int(row[0])


def dsn_string(public_key: str, project_id: int, base: str) -> str:
    """`http://<key>@<host>:<port>/<id>` for a base URL such as `https://errors.example.com`."""
    parts = urlsplit(base)
    return f"{parts.scheme or 'http'}://{public_key}@{parts.netloc}/{project_id}"


def create(conn: sqlite3.Connection, project: str, base: str) -> dict[str, Any]:
    project_id = _project_id(conn, project)
    key = new_key()
    conn.execute(
        "INSERT INTO sentry_keys (public_key, project_id, active, created_at) VALUES (?, ?, 1, ?)",
        (key, project_id, now_iso()),
    )
    return {
        "project": project,
        "project_id": project_id,
        "public_key": key,
        "dsn": dsn_string(key, project_id, base),
    }


def seed(conn: sqlite3.Connection, pairs: tuple[tuple[str, str], ...]) -> int:
    """`SENTRY_DSN_KEYS` at start: each key inserted when absent (a revoked one stays so)."""
    added = 0
    for project, key in pairs:
        added += conn.execute(
            "INSERT INTO sentry_keys (public_key, project_id, active, created_at)"
            " VALUES (?, ?, 1, ?) ON CONFLICT(public_key) DO NOTHING",
            (key, _project_id(conn, project), now_iso()),
        ).rowcount
    return added


def list_dsns(conn: sqlite3.Connection, base: str) -> dict[str, Any]:
    rows = conn.execute(
        "SELECT p.project, p.project_id, k.public_key, k.active, k.created_at"
        " FROM sentry_keys k JOIN sentry_projects p USING (project_id)"
        " ORDER BY p.project_id, k.created_at, k.public_key"
    ).fetchall()
    return {
        "dsns": [
            {
                "project": project,
                "project_id": project_id,
                "public_key": key,
                "dsn": dsn_string(key, project_id, base),
                "active": bool(active),
                "created_at": created_at,
            }
            for project, project_id, key, active, created_at in rows
        ]
    }


def revoke(conn: sqlite3.Connection, project_id: int, public_key: str) -> bool:
    """False when that project has no such key."""
    return (
        conn.execute(
            "UPDATE sentry_keys SET active = 0 WHERE project_id = ? AND public_key = ?",
            (project_id, public_key),
        ).rowcount
        > 0
    )


def active_keys(conn: sqlite3.Connection) -> dict[bytes, Owner]:
    rows = conn.execute(
        "SELECT k.public_key, p.project_id, p.project"
        " FROM sentry_keys k JOIN sentry_projects p USING (project_id) WHERE k.active"
    ).fetchall()
    return {str(key).encode(): (int(pid), str(project)) for key, pid, project in rows}
