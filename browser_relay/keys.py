"""DSN keys: the admin API's create/list/deactivate, `DSN_KEYS` seeding, and the
in-memory key ring every browser request is checked against.

A browser request must not cost a database read: the ring holds the active
keys (a few per project) and is reloaded after every admin change, and at
most RELOAD seconds after a change made elsewhere (another process, a
restored backup). Keys are compared in constant time.
"""

from __future__ import annotations

import hmac
import secrets
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from shared.timeutil import now_iso

#: Seconds after which the ring re-reads the keys even without an admin change here.
RELOAD = 10.0


def new_key() -> str:
    """32 hex characters from the OS CSPRNG: 128 bits nobody guesses."""
    return secrets.token_hex(16)


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


@dataclass
class KeyRing:
    """The active keys in memory: public key → project."""

    keys: dict[bytes, str]
    loaded: float

    @classmethod
    def of(cls, keys: dict[bytes, str]) -> KeyRing:
        return cls(keys, time.monotonic())

    @property
    def stale(self) -> bool:
        return time.monotonic() - self.loaded > RELOAD

    def project_of(self, given: bytes) -> str | None:
        """The key's project, or None. Every active key is compared (in constant time)
        so the answer's timing says nothing about which keys exist."""
        found = None
        for key, project in self.keys.items():
            if hmac.compare_digest(key, given):
                found = project
        return found
