"""Retention: old resolved errors go (with their occurrences); everything else stays."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from error_tracker import SERVICE as TRACKER
from error_tracker import retention
from error_tracker.database import MIGRATIONS
from error_tracker.retention import cutoff_for, purge, purge_all, retention_worker
from shared.db import Database, connect, migrate
from shared.timeutil import format_iso
from tests.conftest import AUTH, tracker_config
from tests.helpers import wait_until

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


def days_ago(days: float, now: datetime = NOW) -> str:
    return format_iso(now - timedelta(days=days))


def add_error(
    conn: sqlite3.Connection,
    name: str,
    resolved_at: str | None,
    resolved: bool | None = None,
    occurrences: int = 2,
) -> int:
    resolved = resolved if resolved is not None else resolved_at is not None
    cur = conn.execute(
        "INSERT INTO errors (fingerprint, project, exception_type, message, traceback,"
        " first_seen, last_seen, resolved, resolved_at)"
        " VALUES (?, 'p', 'E', ?, 't', '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z', ?, ?)",
        (name, name, int(resolved), resolved_at),
    )
    error_id = cur.lastrowid
    for _ in range(occurrences):
        conn.execute(
            "INSERT INTO error_occurrences (error_id, timestamp, extra, traceback)"
            " VALUES (?, '2020-01-01T00:00:00Z', '{}', 't')",
            (error_id,),
        )
    assert error_id is not None
    return error_id


def remaining(conn: sqlite3.Connection) -> tuple[set[str], dict[str, int]]:
    names = {r[0] for r in conn.execute("SELECT message FROM errors")}
    occ = dict(
        conn.execute(
            "SELECT e.message, count(o.id) FROM errors e"
            " LEFT JOIN error_occurrences o ON o.error_id = e.id GROUP BY e.id"
        ).fetchall()
    )
    return names, occ


def test_cutoff_is_retention_days_before_now() -> None:
    assert cutoff_for(90, NOW) == "2026-03-03T12:00:00Z"
    assert cutoff_for(1, NOW) == "2026-05-31T12:00:00Z"


def test_purge_deletes_only_old_resolved_errors_with_occurrences(tmp_path: Path) -> None:
    conn = connect(str(tmp_path / "errors.db"))
    migrate(conn, MIGRATIONS)
    add_error(conn, "old-resolved", days_ago(91))
    add_error(conn, "ancient-resolved", "2019-01-01T00:00:00Z", occurrences=5)
    add_error(conn, "recent-resolved", days_ago(89))
    add_error(conn, "at-cutoff", days_ago(90))  # not older than the cutoff: kept
    add_error(conn, "unresolved-old", None)
    add_error(conn, "reopened", None, resolved=False)
    add_error(conn, "resolved-without-date", None, resolved=True)
    orphan_check = conn.execute("SELECT count(*) FROM error_occurrences").fetchone()[0]
    assert orphan_check == 17

    assert purge(conn, cutoff_for(90, NOW)) == 2
    names, occ = remaining(conn)
    assert names == {
        "recent-resolved",
        "at-cutoff",
        "unresolved-old",
        "reopened",
        "resolved-without-date",
    }
    assert all(count == 2 for count in occ.values())
    # The occurrences of deleted errors went with them (ON DELETE CASCADE).
    assert conn.execute("SELECT count(*) FROM error_occurrences").fetchone()[0] == 10
    assert (
        conn.execute(
            "SELECT count(*) FROM error_occurrences WHERE error_id NOT IN (SELECT id FROM errors)"
        ).fetchone()[0]
        == 0
    )
    assert purge(conn, cutoff_for(90, NOW)) == 0  # nothing left to do
    conn.close()


def test_worker_runs_once_at_start_up(tmp_path: Path) -> None:
    path = tmp_path / "errors.db"
    conn = connect(str(path))
    migrate(conn, MIGRATIONS)
    now = datetime.now(UTC)
    old = add_error(conn, "old", days_ago(10, now))
    kept = add_error(conn, "recent", days_ago(3, now))
    open_id = add_error(conn, "open", None)
    conn.close()

    app = TRACKER.app(tracker_config(tmp_path, RETENTION_DAYS="5"))
    with TestClient(app, headers=AUTH) as client:

        def old_gone() -> bool:
            return client.get(f"/api/errors/{old}").status_code == 404

        wait_until(old_gone, timeout=10, what="start-up retention run")
        listed = client.get("/api/errors", params={"resolved": "all"}).json()
        assert sorted(e["id"] for e in listed["errors"]) == sorted([kept, open_id])
        assert len(client.get(f"/api/errors/{kept}").json()["occurrences"]) == 2
    with sqlite3.connect(path) as check:
        assert (
            check.execute(
                "SELECT count(*) FROM error_occurrences WHERE error_id = ?", (old,)
            ).fetchone()[0]
            == 0
        )


def test_worker_repeats_on_its_interval(tmp_path: Path) -> None:
    db = Database(str(tmp_path / "errors.db"), MIGRATIONS)
    worker = retention_worker(db, days=5, interval=0.05)
    worker.start()
    try:
        wait_until(lambda: worker.runs >= 1, what="first run")
        stale = db.writer.submit_sync(
            lambda conn: add_error(conn, "later", days_ago(6, datetime.now(UTC)))
        )

        def purged() -> bool:
            return (
                db.reader.run_sync(
                    lambda conn: conn.execute(
                        "SELECT 1 FROM errors WHERE id = ?", (stale,)
                    ).fetchone()
                )
                is None
            )

        wait_until(purged, timeout=10, what="a later retention run")
    finally:
        worker.stop()
        db.close()


def test_retention_of_a_million_days_keeps_everything_without_failing() -> None:
    """`RETENTION_DAYS=1000000` ("keep forever") reaches past year 1: nothing is older."""
    assert cutoff_for(1_000_000) == "0001-01-01T00:00:00Z"
    assert cutoff_for(999_999_999) == "0001-01-01T00:00:00Z"


def test_a_big_purge_runs_in_short_jobs_that_writes_interleave_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,200 old groups go in jobs of CHUNK, so a report waits behind one chunk, not all."""
    db = Database(str(tmp_path / "errors.db"), MIGRATIONS)
    try:
        db.write_sync(lambda conn: [add_error(conn, f"old-{i}", days_ago(30)) for i in range(1200)])
        jobs_before = db.writer.jobs
        left_after_each: list[int] = []
        original = retention.purge

        def purge_and_look(conn: sqlite3.Connection, cutoff: str) -> int:
            done = original(conn, cutoff)
            left_after_each.append(conn.execute("SELECT count(*) FROM errors").fetchone()[0])
            return done

        monkeypatch.setattr(retention, "purge", purge_and_look)
        assert purge_all(db, cutoff_for(5, NOW)) == 1200
        assert db.writer.jobs - jobs_before == 3  # three commits, not one long one
        assert left_after_each == [700, 200, 0]
    finally:
        db.close()
