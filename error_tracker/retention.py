"""Daily deletion of errors resolved more than RETENTION_DAYS ago."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta

from shared.db import Database
from shared.timeutil import format_iso
from shared.workers import PeriodicWorker

log = logging.getLogger("monlight.error_tracker.retention")

DAY = 24 * 3600.0


def purge(conn: sqlite3.Connection, cutoff: str) -> int:
    """Delete resolved errors with resolved_at before cutoff; occurrences cascade."""
    cur = conn.execute(
        "DELETE FROM errors WHERE resolved = 1 AND resolved_at IS NOT NULL AND resolved_at < ?",
        (cutoff,),
    )
    return cur.rowcount


def cutoff_for(days: int, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    try:
        return format_iso(now - timedelta(days=days))
    except OverflowError:  # a retention longer than the calendar: nothing is that old
        return format_iso(datetime.min)


def retention_worker(db: Database, days: int, interval: float = DAY) -> PeriodicWorker:
    def run_once() -> None:
        cutoff = cutoff_for(days)
        deleted = db.writer.submit_sync(lambda conn: purge(conn, cutoff))
        if deleted:
            log.info("retention deleted %d resolved errors older than %s", deleted, cutoff)

    return PeriodicWorker("retention", run_once, interval, run_at_start=True)
