"""Daily deletion of source maps uploaded more than RETENTION_DAYS ago."""

from __future__ import annotations

import logging

from browser_relay.maps import purge
from shared.db import Database
from shared.timeutil import cutoff_for
from shared.workers import PeriodicWorker

log = logging.getLogger("monlight.browser_relay.retention")

DAY = 24 * 3600.0


def retention_worker(db: Database, days: int, interval: float = DAY) -> PeriodicWorker:
    def run_once() -> None:
        cutoff = cutoff_for(days)
        deleted = db.write_sync(lambda conn: purge(conn, cutoff))
        if deleted:
            log.info("retention deleted %d source maps uploaded before %s", deleted, cutoff)

    return PeriodicWorker("retention", run_once, interval, run_at_start=True)
