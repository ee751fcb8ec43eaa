"""Substring search over exception types and messages, fast at 100k groups.

`search` is a case-insensitive substring of exception_type or message: a
trigram index (migration 6) picks candidates and LIKE decides, filled in the
background by `indexer` (see shared.search for why it is built that way).
The names below are what the tracker's app, schema and listing use.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from shared.db import Database
from shared.search import Plan, TrigramIndex
from shared.workers import PeriodicWorker

__all__ = ["INDEX", "MIGRATION", "Plan", "index_pending", "indexer", "like", "plan", "watermark"]

INDEX = TrigramIndex(
    table="errors",
    fts="errors_fts",
    columns=("exception_type", "message"),
    watermark_key="fts_indexed_upto",
    alias="e",
    logger="monlight.error_tracker.search",
    noun="groups",
)

#: Migration 6: must stay as released (databases already carry it).
MIGRATION = INDEX.migration

# Functions rather than bound methods, so a test may swap INDEX for a variant.


def watermark(conn: sqlite3.Connection) -> int:
    return INDEX.watermark(conn)


def index_pending(db: Database, stop: Callable[[], bool] = lambda: False) -> int:
    return INDEX.index_pending(db, stop)


def indexer(db: Database, interval: float = 1.0) -> PeriodicWorker:
    return INDEX.indexer(db, interval)


def plan(conn: sqlite3.Connection, term: str) -> Plan:
    return INDEX.plan(conn, term)


def like(term: str) -> tuple[str, tuple[str, ...]]:
    return INDEX.like(term)
