"""GET /api/logs: filters, FTS5 search, newest first, paged; the filters histograms share.

`search` (alias `q`) is FTS5 query syntax — words, "phrases", OR, NOT,
prefix* — matched against messages through the index; a query FTS5 cannot
parse is a 400 naming the problem, never a 500. Times are ISO 8601 and
compared in the stored form (UTC, microseconds).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from starlette.datastructures import QueryParams

from log_viewer.levels import LEVELS, normalize
from shared.responses import BadRequest
from shared.timeutil import parse_iso
from shared.validate import query_int, query_optional

T = TypeVar("T")

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_SEARCH = 1_000
MAX_CONTAINER = 200
STORED_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True, slots=True)
class Filters:
    container: str | None = None
    level: str | None = None
    search: str | None = None
    since: str | None = None  # stored form
    until: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        """SQL conditions over `log_entries e` (leading WHERE when any), and their args."""
        parts: list[str] = []
        args: list[Any] = []
        if self.search is not None:
            parts.append(
                "e.id IN (SELECT rowid FROM log_entries_fts WHERE log_entries_fts MATCH ?)"
            )
            args.append(self.search)
        if self.container is not None:
            parts.append("e.container = ?")
            args.append(self.container)
        if self.level is not None:
            parts.append("e.level = ?")
            args.append(self.level)
        if self.since is not None:
            parts.append("e.timestamp >= ?")
            args.append(self.since)
        if self.until is not None:
            parts.append("e.timestamp <= ?")
            args.append(self.until)
        return (" WHERE " + " AND ".join(parts)) if parts else "", args


def stored(moment: datetime) -> str:
    """A UTC time in the stored form (four-digit years even before 1000: text order)."""
    return f"{moment.year:04d}" + moment.strftime(STORED_TIME[2:])


def stored_time(params: QueryParams, name: str) -> str | None:
    raw = query_optional(params, name, 40)
    if raw is None:
        return None
    try:
        return stored(parse_iso(raw))
    except ValueError as exc:
        raise BadRequest(f"Query parameter '{name}': {exc}") from None


def parse_filters(params: QueryParams) -> Filters:
    level = query_optional(params, "level", 20)
    if level is not None:
        normalized = normalize(level)
        if normalized is None:
            raise BadRequest(f"Query parameter 'level' must be one of {', '.join(LEVELS)}")
        level = normalized
    search = query_optional(params, "search", MAX_SEARCH) or query_optional(params, "q", MAX_SEARCH)
    if search is not None and not search.strip():
        search = None
    if search is not None and "\x00" in search:
        raise BadRequest("Query parameter 'search' must not contain NUL characters")
    filters = Filters(
        container=query_optional(params, "container", MAX_CONTAINER),
        level=level,
        search=search,
        since=stored_time(params, "since"),
        until=stored_time(params, "until"),
    )
    if filters.since and filters.until and filters.since > filters.until:
        raise BadRequest("Query parameter 'since' must not be after 'until'")
    return filters


@dataclass(frozen=True, slots=True)
class Page:
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def parse_page(params: QueryParams) -> Page:
    limit = query_int(params, "limit", DEFAULT_LIMIT, minimum=1)
    return Page(min(limit, MAX_LIMIT), query_int(params, "offset", 0))


#: SQLite's messages for a MATCH expression FTS5 cannot parse.
_FTS_ERRORS = ("fts5:", "unterminated string", "unknown special query", "no such column")


def fts_errors(fn: Callable[[], T]) -> T:
    """Run a query; an FTS5 parse error becomes a 400 with SQLite's reason."""
    try:
        return fn()
    except sqlite3.OperationalError as exc:
        message = str(exc)
        if not message.startswith(_FTS_ERRORS):
            raise
        hint = ""
        if message.startswith("no such column"):
            hint = " (a word followed by ':' names a column: put the term in double quotes)"
        raise BadRequest(
            f"Query parameter 'search' is not valid FTS5 syntax: {message}{hint}"
        ) from None


#: Above this many search hits, the newest page is found by walking the time
#: index down (checking each row against the hits) rather than by sorting all hits.
SORT_HITS = 4_000


def list_logs(conn: sqlite3.Connection, filters: Filters, page: Page) -> dict[str, Any]:
    """The read job of GET /api/logs.

    A search is counted in the FTS index alone (1-2 ms for 40k hits at 1M
    entries, where counting through the table took 35) unless other
    filters need the rows. Its page is chosen by that count: few hits are
    sorted by time (cheap), many are met walking idx_timestamp from the
    newest (sorting 43k hits took 55 ms, the walk 5).
    """
    where, args = filters.where()

    def run() -> dict[str, Any]:
        source = "log_entries e"
        if filters.search is not None:
            hits = conn.execute(
                "SELECT count(*) FROM log_entries_fts WHERE log_entries_fts MATCH ?",
                (filters.search,),
            ).fetchone()[0]
            if filters == Filters(search=filters.search):
                total = hits
            else:
                total = conn.execute(f"SELECT count(*) FROM {source}{where}", args).fetchone()[0]
            if filters.container is None and filters.level is None:
                index = "idx_timestamp" if hits > SORT_HITS else None
                source += f" INDEXED BY {index}" if index else " NOT INDEXED"
        else:
            total = conn.execute(f"SELECT count(*) FROM {source}{where}", args).fetchone()[0]
        rows = conn.execute(
            "SELECT e.id, e.timestamp, e.container, e.stream, e.level, e.message"
            f" FROM {source}{where} ORDER BY e.timestamp DESC, e.id DESC LIMIT ? OFFSET ?",
            (*args, page.limit, page.offset),
        ).fetchall()
        return {
            "logs": [
                {
                    "id": r[0],
                    "timestamp": r[1],
                    "container": r[2],
                    "stream": r[3],
                    "level": r[4],
                    "message": r[5],
                }
                for r in rows
            ],
            "total": total,
            "limit": page.limit,
            "offset": page.offset,
        }

    return fts_errors(run)
