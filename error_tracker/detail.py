"""GET /api/errors/{id}: one flat object with the newest occurrences."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from error_tracker.grouping import culprit, traceback_frames
from error_tracker.listing import LIST_COLUMNS, row_to_dict


def _json_or_none(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # written by hand or by an old client: show as text
        return text


def get_error(conn: sqlite3.Connection, error_id: int) -> dict[str, Any] | None:
    row = conn.execute(
        f"SELECT {LIST_COLUMNS}, e.traceback, e.resolved_at FROM errors e WHERE e.id = ?",
        (error_id,),
    ).fetchone()
    if row is None:
        return None
    *listed, traceback, resolved_at = row
    out = row_to_dict(listed)
    out["traceback"] = traceback
    # Line spans of its frames, in-app or not, and which is the culprit: the page
    # folds library frames by the same rule that groups.
    out["traceback_frames"] = traceback_frames(traceback)
    out["resolved_at"] = resolved_at
    if out["culprit"] is None:  # a group from before culprits were kept
        out["culprit"] = culprit(traceback)
    out["occurrences"] = [
        {
            "id": o[0],
            "timestamp": o[1],
            "request_url": o[2],
            "request_method": o[3],
            "request_headers": _json_or_none(o[4]),
            "user_id": o[5],
            "extra": _json_or_none(o[6]),
            "traceback": o[7],
        }
        for o in conn.execute(
            "SELECT id, timestamp, request_url, request_method, request_headers, user_id,"
            " extra, traceback FROM error_occurrences WHERE error_id = ? ORDER BY id DESC",
            (error_id,),
        )
    ]
    return out
