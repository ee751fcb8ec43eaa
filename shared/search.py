"""Case-insensitive substring search over a table's text columns, fast at 100k rows.

"Search" here means "case-insensitive substring of any of the columns", which
LIKE answers exactly but only by reading every row. A trigram FTS5 index
(`TrigramIndex.migration`) finds the few rows that can contain a term in well
under a millisecond; LIKE then re-checks those candidates, so results are
exactly LIKE's whichever way they were found.

The index is filled in the background (`TrigramIndex.indexer`: chunks through
the one writer), not by an insert trigger: a trigram insert per new row would
double the cost of ingesting it. Rows above the watermark (a `_meta` key) are
not indexed yet and are always checked by LIKE, so a search never misses a
row that was just created. Deleting an indexed row removes it from the index
by trigger (external content tables need the old values to do that).

A service declares its index once (table, columns, watermark key) and uses it
for the migration, the background worker and its queries' WHERE clauses.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from shared.db import Database
from shared.workers import PeriodicWorker

#: Rows indexed per writer job: a few milliseconds of the writer at a time.
CHUNK = 2000
#: Past this many candidates a term is common: walking a recency index with
#: LIKE finds a page sooner than sorting all candidates.
SELECTIVE = 2000
MIN_TERM = 3  # trigrams need three characters

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def fts_phrase(term: str) -> str:
    """The term as one FTS5 phrase: with trigrams, a substring match."""
    return '"' + term.replace('"', '""') + '"'


def like_pattern(text: str) -> str:
    """A LIKE pattern (with `ESCAPE '\\'`) matching `text` literally as a substring."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True, slots=True)
class Plan:
    """How to find the rows a search can match."""

    #: Extra WHERE clause narrowing candidates (None: every row is a candidate).
    clause: str | None
    args: tuple[object, ...]
    #: True when candidates are few: sort them rather than walk the index.
    selective: bool


@dataclass(frozen=True)
class TrigramIndex:
    """A trigram FTS5 index over `columns` of `table`, filled in the background.

    Names are SQL identifiers from the code, never from requests (checked).
    `alias` is the table's alias in the queries that use `plan` and `like`.
    Changing `table`, `fts`, `columns`, `key` or `watermark_key` changes the
    migration: a database that already has it keeps the old schema.
    """

    table: str
    fts: str
    columns: tuple[str, ...]
    watermark_key: str
    alias: str = ""
    #: The table's INTEGER PRIMARY KEY (the FTS rowid).
    key: str = "id"
    chunk: int = CHUNK
    selective: int = SELECTIVE
    #: The background worker's name (what shutdown logs and tests look for).
    worker_name: str = "search-index"
    logger: str = "monlight.search"
    #: What a row is, for the catch-up log line ("groups").
    noun: str = "rows"

    def __post_init__(self) -> None:
        names = (self.table, self.fts, self.key, *self.columns)
        if self.alias:
            names += (self.alias,)
        bad = [name for name in names if not _IDENTIFIER.match(name)]
        if bad or not self.columns:
            raise ValueError(f"TrigramIndex needs plain SQL identifiers, got {bad or 'no columns'}")

    # --- schema ------------------------------------------------------------------------------

    @property
    def migration(self) -> str:
        """The SQL that creates the index, its watermark and its delete trigger."""
        cols = ", ".join(self.columns)
        old = ", ".join(f"old.{c}" for c in self.columns)
        return f"""
CREATE VIRTUAL TABLE {self.fts} USING fts5(
    {cols}, content='{self.table}', content_rowid='{self.key}', tokenize='trigram'
);
INSERT INTO _meta (key, value) VALUES ('{self.watermark_key}', '0');
CREATE TRIGGER {self.fts}_delete AFTER DELETE ON {self.table}
WHEN old.{self.key} <= (SELECT CAST(value AS INTEGER) FROM _meta WHERE key = '{self.watermark_key}')
BEGIN
    INSERT INTO {self.fts} ({self.fts}, rowid, {cols})
    VALUES ('delete', old.{self.key}, {old});
END;
"""

    # --- background indexing -----------------------------------------------------------------

    def watermark(self, conn: sqlite3.Connection) -> int:
        """The highest key indexed so far: rows above it are found by LIKE alone."""
        row = conn.execute(
            "SELECT value FROM _meta WHERE key = ?", (self.watermark_key,)
        ).fetchone()
        return int(row[0]) if row else 0

    def index_chunk(self, conn: sqlite3.Connection, limit: int | None = None) -> int:
        """A write job: index up to `limit` (default `chunk`) rows above the watermark."""
        limit = self.chunk if limit is None else limit
        start = self.watermark(conn)
        upto = conn.execute(
            f"SELECT max({self.key}) FROM (SELECT {self.key} FROM {self.table}"
            f" WHERE {self.key} > ? ORDER BY {self.key} LIMIT ?)",
            (start, limit),
        ).fetchone()[0]
        if upto is None:
            return 0
        cols = ", ".join(self.columns)
        cur = conn.execute(
            f"INSERT INTO {self.fts} (rowid, {cols})"
            f" SELECT {self.key}, {cols} FROM {self.table}"
            f" WHERE {self.key} > ? AND {self.key} <= ?",
            (start, upto),
        )
        conn.execute("UPDATE _meta SET value = ? WHERE key = ?", (str(upto), self.watermark_key))
        return cur.rowcount

    def index_pending(self, db: Database, stop: Callable[[], bool] = lambda: False) -> int:
        """Catch the index up, one chunk per writer job so ingestion interleaves.

        `stop` ends a long catch-up early (shutdown); the watermark keeps the place.
        """
        total = 0
        while True:
            done = db.write_sync(self.index_chunk)
            total += done
            if done < self.chunk or stop():
                return total

    def indexer(self, db: Database, interval: float = 1.0) -> PeriodicWorker:
        """The worker keeping the index caught up: at start, then every `interval` s."""
        log = logging.getLogger(self.logger)

        def run() -> None:
            done = self.index_pending(db, worker.stopping)
            if done >= self.chunk:
                log.info("search index caught up with %d %s", done, self.noun)

        worker = PeriodicWorker(self.worker_name, run, interval, run_at_start=True)
        return worker

    # --- queries -----------------------------------------------------------------------------

    def _ref(self, column: str) -> str:
        return f"{self.alias}.{column}" if self.alias else column

    def plan(self, conn: sqlite3.Connection, term: str) -> Plan:
        """Pick candidates for a search term; `like` always decides the match."""
        if len(term) < MIN_TERM:
            return Plan(None, (), selective=False)
        phrase = fts_phrase(term)
        found = conn.execute(
            f"SELECT count(*) FROM (SELECT rowid FROM {self.fts} WHERE {self.fts} MATCH ? LIMIT ?)",
            (phrase, self.selective + 1),
        ).fetchone()[0]
        if found > self.selective:
            return Plan(None, (), selective=False)
        key = self._ref(self.key)
        return Plan(
            f"({key} IN (SELECT rowid FROM {self.fts} WHERE {self.fts} MATCH ?) OR {key} > ?)",
            (phrase, self.watermark(conn)),
            selective=True,
        )

    def like(self, term: str) -> tuple[str, tuple[str, ...]]:
        """The WHERE clause deciding a match: `term` is a substring of any column (LIKE)."""
        pattern = like_pattern(term)
        tests = " OR ".join(f"{self._ref(c)} LIKE ? ESCAPE '\\'" for c in self.columns)
        return f"({tests})", (pattern,) * len(self.columns)
