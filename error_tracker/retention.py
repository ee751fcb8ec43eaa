"""Daily deletion of errors resolved more than RETENTION_DAYS ago."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from shared.db import Database
from shared.timeutil import cutoff_for
from shared.workers import PeriodicWorker

log = logging.getLogger("monlight.error_tracker.retention")

DAY = 24 * 3600.0
#: Groups deleted per write job: each takes its occurrences (cascade) and its
#: search-index rows along, so a job stays a few milliseconds of the writer and
#: ingestion interleaves with a purge of any size.
CHUNK = 500


def purge(conn: sqlite3.Connection, cutoff: str, limit: int = CHUNK) -> int:
    """Delete up to `limit` resolved errors with resolved_at before cutoff; occurrences cascade."""
    cur = conn.execute(
        "DELETE FROM errors WHERE id IN (SELECT id FROM errors WHERE resolved = 1"
        " AND resolved_at IS NOT NULL AND resolved_at < ? LIMIT ?)",
        (cutoff, limit),
    )
    return cur.rowcount


def purge_all(db: Database, cutoff: str, stop: Callable[[], bool] = lambda: False) -> int:
    """Purge in CHUNK-sized jobs until nothing is left (or shutdown asks to stop)."""
    total = 0
    while True:
        deleted = db.write_sync(lambda conn: purge(conn, cutoff))
        total += deleted
        if deleted < CHUNK or stop():
            return total


def retention_worker(db: Database, days: int, interval: float = DAY) -> PeriodicWorker:
    def run_once() -> None:
        cutoff = cutoff_for(days)
        deleted = purge_all(db, cutoff, worker.stopping)
        if deleted:
            log.info("retention deleted %d resolved errors older than %s", deleted, cutoff)

    worker = PeriodicWorker("retention", run_once, interval, run_at_start=True)
    return worker
