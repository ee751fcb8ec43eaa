"""L1: log ingestion from Docker json-file logs (the Log Viewer's worker, in-process).

1M lines over 4 containers, 5 % of entries multiline (bench/seed_logs.py),
read once from a fresh database with TAIL_BUFFER covering the whole files:
one `Ingestor.poll`, timed; `value` is lines per second. The run is on this
process's thread (as M3 is), so `--profile` samples it.
"""

from __future__ import annotations

import statistics
import time

from bench.core import Context, Row, benchmark, log, min_value
from bench.seed_logs import write_docker_logs
from log_viewer.config import from_env
from log_viewer.database import MIGRATIONS
from log_viewer.ingestion import Ingestor
from shared.db import Database

LINES = 1_000_000
#: The spec's bar, lines/s, and the earlier implementation's figure.
L1_LINES_S = 150_000
L1_NATIVE_LINES_S = 5_200


@benchmark("L1", "log ingest from Docker json-file logs")
def l1(ctx: Context) -> list[Row]:
    root = ctx.scratch("l1-logs")
    started = time.monotonic()
    facts = write_docker_logs(root, LINES)
    log(
        f"  L1: wrote {facts['lines']:,} lines ({facts['entries']:,} entries,"
        f" {facts['bytes'] / 1e6:.0f} MB) in {time.monotonic() - started:.0f} s"
    )
    rates = []
    for run in range(ctx.runs):
        path = ctx.scratch(f"l1-run-{run}") / "logs.db"
        db = Database(str(path), MIGRATIONS)
        try:
            settings = from_env(
                {
                    "API_KEY": "bench",
                    "DATABASE_PATH": str(path),
                    "LOG_SOURCES": str(root),
                    "TAIL_BUFFER": str(10**12),
                    "MAX_ENTRIES": str(10 * LINES),
                }
            )
            ingestor = Ingestor(db, settings)
            clock = time.monotonic()
            report = ingestor.poll(time.time() + 3600, rescan=True)
            seconds = time.monotonic() - clock
        finally:
            db.close()
        rates.append(facts["lines"] / seconds)
        log(
            f"  L1-{run + 1}: {seconds:.1f} s, {facts['lines'] / seconds:,.0f} lines/s,"
            f" {report.entries:,} entries"
        )
    row = Row(
        "L1",
        "1M lines over 4 containers, 5 % multiline, one pass",
        value=statistics.median(rates),
        unit="lines/s",
        bar=[min_value(L1_LINES_S, "lines/s")],
    )
    row.notes.append(
        f"runs {', '.join(f'{r:,.0f}' for r in rates)} lines/s; the earlier implementation:"
        f" ~{L1_NATIVE_LINES_S:,} lines/s"
    )
    return [row]
