"""GET /api/errors: filters parsed from the query, then a page and a total."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams

from error_tracker import search
from error_tracker.activity import series
from shared.responses import BadRequest
from shared.timeutil import format_iso, parse_iso
from shared.validate import query_choice, query_int

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
#: Longer searches would exceed SQLite's LIKE pattern limit (50 000 bytes, escaped).
MAX_SEARCH = 1000

#: True when any occurrence of group `e` came from a browser (the relay marks them).
BROWSER = (
    "EXISTS (SELECT 1 FROM error_occurrences o"
    " WHERE o.error_id = e.id AND o.request_method = 'BROWSER')"
)
#: Columns of a list row, in the order `row_to_dict` reads them.
LIST_COLUMNS = (
    "e.id, e.fingerprint, e.project, e.exception_type, e.message, e.count,"
    f" e.first_seen, e.last_seen, e.resolved, {BROWSER} AS browser,"
    " e.regressed_at, e.times_reopened, e.culprit, e.hourly"
)


@dataclass(slots=True)
class Filters:
    project: str | None = None
    resolved: str = "false"  # false | true | all
    search: str | None = None
    source: str | None = None  # browser | server
    session_id: str | None = None
    since: str | None = None
    #: `regressed`: unresolved groups that had been resolved and came back.
    status: str | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def parse_filters(params: QueryParams) -> Filters:
    limit = query_int(params, "limit", DEFAULT_LIMIT, minimum=0)
    since = params.get("since") or None
    if since is not None:
        try:
            since = format_iso(parse_iso(since))
        except ValueError as exc:
            raise BadRequest(f"Query parameter 'since' is invalid: {exc}") from None
    search = params.get("search") or None
    if search is not None and len(search) > MAX_SEARCH:
        raise BadRequest(f"Query parameter 'search' must be at most {MAX_SEARCH} characters")
    if search is not None and "\x00" in search:
        # SQLite reads LIKE patterns and FTS5 queries as C strings: a NUL would cut them short.
        raise BadRequest("Query parameter 'search' must not contain NUL characters")
    return Filters(
        project=params.get("project") or None,
        resolved=query_choice(params, "resolved", ("false", "true", "all"), "false"),
        search=search,
        source=query_choice(params, "source", ("browser", "server"), "") or None,
        session_id=params.get("session_id") or None,
        since=since,
        status=query_choice(params, "status", ("regressed",), "") or None,
        limit=min(limit or DEFAULT_LIMIT, MAX_LIMIT),
        offset=query_int(params, "offset", 0, minimum=0),
    )


def where_clause(
    f: Filters, plan: search.Plan | None = None, *, scan: bool = False
) -> tuple[str, list[Any]]:
    """The WHERE for these filters.

    `plan` narrows a search to its index candidates. When candidates are few,
    or `scan` says most rows will be read anyway, the unary + keeps the
    planner off the recency indexes: a thousand index-then-row hops cost
    more than one pass over the table.
    """
    clauses: list[str] = []
    args: list[Any] = []
    bare = "+" if scan or (plan is not None and plan.selective) else ""
    if f.resolved != "all":
        clauses.append(f"{bare}e.resolved = ?")
        args.append(1 if f.resolved == "true" else 0)
    if f.project is not None:
        clauses.append(f"{bare}e.project = ?")
        args.append(f.project)
    if f.search is not None:
        if plan is not None and plan.clause is not None:
            clauses.append(plan.clause)
            args += plan.args
        like, like_args = search.like(f.search)
        clauses.append(like)
        args += like_args
    if f.source == "browser":
        clauses.append(BROWSER)
    elif f.source == "server":
        clauses.append("NOT " + BROWSER)
    if f.session_id is not None:
        clauses.append(
            "EXISTS (SELECT 1 FROM error_occurrences o WHERE o.error_id = e.id"
            " AND json_valid(o.extra) AND json_extract(o.extra, '$.session_id') = ?)"
        )
        args.append(f.session_id)
    if f.since is not None:
        clauses.append("e.last_seen >= ?")
        args.append(f.since)
    if f.status == "regressed":
        clauses.append("e.regressed_at IS NOT NULL AND e.resolved = 0")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def row_to_dict(row: Sequence[Any]) -> dict[str, Any]:
    return {
        "id": row[0],
        "fingerprint": row[1],
        "project": row[2],
        "exception_type": row[3],
        "message": row[4],
        "count": row[5],
        "first_seen": row[6],
        "last_seen": row[7],
        "resolved": bool(row[8]),
        "source": "browser" if row[9] else "server",
        # Regressions: when it last came back after being resolved, and how often it did.
        "regressed_at": row[10],
        "times_reopened": row[11],
        # `path:line in function` of the app's frame that raised (null when none is).
        "culprit": row[12],
        # Reports per hour over the last 24 hours, oldest first (the list's sparkline).
        "hourly": series(row[13]),
    }


def search_plan(conn: sqlite3.Connection, f: Filters) -> search.Plan | None:
    return search.plan(conn, f.search) if f.search else None


def list_page(
    conn: sqlite3.Connection, f: Filters, plan: search.Plan | None = None
) -> list[dict[str, Any]]:
    if plan is None:
        plan = search_plan(conn, f)
    where, args = where_clause(f, plan)
    # Few candidates: sort them. Otherwise walk the recency index until a page
    # of matches is found (a common term fills it within a few rows).
    sort = plan is not None and plan.selective
    order = "+e.last_seen DESC, +e.id DESC" if sort else "e.last_seen DESC, e.id DESC"
    rows = conn.execute(
        f"SELECT {LIST_COLUMNS} FROM errors e{where} ORDER BY {order} LIMIT ? OFFSET ?",
        (*args, f.limit, f.offset),
    ).fetchall()
    return [row_to_dict(r) for r in rows]


def count_errors(conn: sqlite3.Connection, f: Filters, plan: search.Plan | None = None) -> int:
    if plan is None:
        plan = search_plan(conn, f)
    where, args = where_clause(f, plan, scan=plan is not None and not plan.selective)
    return int(conn.execute(f"SELECT count(*) FROM errors e{where}", args).fetchone()[0])


def count_key(f: Filters) -> tuple[Any, ...]:
    """What the total depends on: every filter but the page window."""
    return (
        "errors.total",
        f.project,
        f.resolved,
        f.search,
        f.source,
        f.session_id,
        f.since,
        f.status,
    )
