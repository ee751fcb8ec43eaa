"""Substring search over exception types and messages, fast at 100k groups.

`search` means "case-insensitive substring of exception_type or message",
which LIKE answers exactly but only by reading every row. A trigram FTS5
index (migration 6) finds the few rows that can contain a term in well
under a millisecond; LIKE then re-checks those candidates, so results are
exactly LIKE's whichever way they were found.

The index is filled in the background by `index_pending` (chunks through
the one writer), not by a trigger: a trigram insert per new group would
double the cost of ingesting a new error. Rows above the watermark
(`_meta.fts_indexed_upto`) are not indexed yet and are always checked by
LIKE, so a search never misses a group that was just created.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from shared.db import Database
from shared.workers import PeriodicWorker

log = logging.getLogger("monlight.error_tracker.search")

WATERMARK_KEY = "fts_indexed_upto"
#: Rows indexed per writer job: a few milliseconds of the writer at a time.
CHUNK = 2000
#: Past this many candidates a term is common: walking the recency index
#: with LIKE finds a page sooner than sorting all candidates.
SELECTIVE = 2000
MIN_TERM = 3  # trigrams need three characters

MIGRATION = f"""
CREATE VIRTUAL TABLE errors_fts USING fts5(
    exception_type, message, content='errors', content_rowid='id', tokenize='trigram'
);
INSERT INTO _meta (key, value) VALUES ('{WATERMARK_KEY}', '0');
CREATE TRIGGER errors_fts_delete AFTER DELETE ON errors
WHEN old.id <= (SELECT CAST(value AS INTEGER) FROM _meta WHERE key = '{WATERMARK_KEY}')
BEGIN
    INSERT INTO errors_fts (errors_fts, rowid, exception_type, message)
    VALUES ('delete', old.id, old.exception_type, old.message);
END;
"""


def watermark(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM _meta WHERE key = ?", (WATERMARK_KEY,)).fetchone()
    return int(row[0]) if row else 0


def index_chunk(conn: sqlite3.Connection, limit: int = CHUNK) -> int:
    """Index up to `limit` groups above the watermark; return how many."""
    start = watermark(conn)
    upto = conn.execute(
        "SELECT max(id) FROM (SELECT id FROM errors WHERE id > ? ORDER BY id LIMIT ?)",
        (start, limit),
    ).fetchone()[0]
    if upto is None:
        return 0
    cur = conn.execute(
        "INSERT INTO errors_fts (rowid, exception_type, message)"
        " SELECT id, exception_type, message FROM errors WHERE id > ? AND id <= ?",
        (start, upto),
    )
    conn.execute("UPDATE _meta SET value = ? WHERE key = ?", (str(upto), WATERMARK_KEY))
    return cur.rowcount


def index_pending(db: Database, stop: Callable[[], bool] = lambda: False) -> int:
    """Catch the index up, one chunk per writer job so ingestion interleaves.

    `stop` ends a long catch-up early (shutdown); the watermark keeps the place.
    """
    total = 0
    while True:
        done = db.writer.submit_sync(index_chunk)
        total += done
        if done < CHUNK or stop():
            return total


def indexer(db: Database, interval: float = 1.0) -> PeriodicWorker:
    def run() -> None:
        done = index_pending(db, worker.stopping)
        if done >= CHUNK:
            log.info("search index caught up with %d groups", done)

    worker = PeriodicWorker("search-index", run, interval, run_at_start=True)
    return worker


def fts_phrase(term: str) -> str:
    """The term as one FTS5 phrase: with trigrams, a substring match."""
    return '"' + term.replace('"', '""') + '"'


@dataclass(frozen=True, slots=True)
class Plan:
    """How to find the rows a search can match."""

    #: Extra WHERE clause narrowing candidates (None: every row is a candidate).
    clause: str | None
    args: tuple[object, ...]
    #: True when candidates are few: sort them rather than walk the index.
    selective: bool


def plan(conn: sqlite3.Connection, term: str) -> Plan:
    """Pick candidates for a search term; LIKE always decides the match."""
    if len(term) < MIN_TERM:
        return Plan(None, (), selective=False)
    phrase = fts_phrase(term)
    found = conn.execute(
        "SELECT count(*) FROM (SELECT rowid FROM errors_fts WHERE errors_fts MATCH ? LIMIT ?)",
        (phrase, SELECTIVE + 1),
    ).fetchone()[0]
    if found > SELECTIVE:
        return Plan(None, (), selective=False)
    return Plan(
        "(e.id IN (SELECT rowid FROM errors_fts WHERE errors_fts MATCH ?) OR e.id > ?)",
        (phrase, watermark(conn)),
        selective=True,
    )
