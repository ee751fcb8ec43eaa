"""Helpers for the Error Tracker tests: report bodies, stored rows, timed inserts."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson
from starlette.testclient import TestClient

from error_tracker.ingestion import Outcome, parse_report, store
from shared.app import runtime

PY_TB = 'Traceback (most recent call last):\n  File "app.py", line 10, in f\nValueError: x\n'


def report(**over: Any) -> dict[str, Any]:
    """A valid report; keyword arguments override or add fields."""
    body: dict[str, Any] = {
        "project": "shop",
        "exception_type": "ValueError",
        "message": "bad",
        "traceback": PY_TB,
    }
    body.update(over)
    return body


def at_line(line: int, **over: Any) -> dict[str, Any]:
    """A report raised at `line` of its own function `f<line>`, so each is its own group
    (by v1 fingerprint and by grouping key: the key leaves line numbers out)."""
    tb = f'Traceback (most recent call last):\n  File "app.py", line {line}, in f{line}\nE: x\n'
    return report(traceback=tb, **over)


def db_path(client: TestClient) -> str:
    return str(runtime(client.app).settings.database_path)


def row_counts(client: TestClient) -> tuple[int, int]:
    """(errors, error_occurrences) as stored, read on a separate connection."""
    with sqlite3.connect(db_path(client)) as conn:
        errors = conn.execute("SELECT count(*) FROM errors").fetchone()[0]
        occurrences = conn.execute("SELECT count(*) FROM error_occurrences").fetchone()[0]
    return errors, occurrences


def store_at(client: TestClient, when: str, **body: Any) -> Outcome:
    """Ingest a report through the real writer at a chosen time (listing order, since)."""
    parsed = parse_report(orjson.dumps(report(**body)))
    db = runtime(client.app).db
    return db.writer.submit_sync(lambda conn: store(conn, parsed, now=when))  # type: ignore[no-any-return]


def execute(client: TestClient, sql: str, *args: Any) -> None:
    """Change stored rows behind the API (e.g. age a resolved_at) via the writer."""
    db = runtime(client.app).db
    db.writer.submit_sync(lambda conn: conn.execute(sql, args))
