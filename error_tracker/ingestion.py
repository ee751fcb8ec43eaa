"""POST /api/errors: validate a report, then group it in one write job."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import orjson

from error_tracker.activity import bump, hour_of
from error_tracker.fingerprint import fingerprint
from error_tracker.grouping import check_fingerprint, group_report
from shared.responses import BadRequest
from shared.timeutil import now_iso
from shared.validate import json_object, object_field, string_field

#: How many occurrences each error keeps (the newest).
KEEP_OCCURRENCES = 5


@dataclass(slots=True)
class Report:
    project: str
    exception_type: str
    message: str
    traceback: str
    request_url: str | None
    request_method: str | None
    request_headers: str | None
    user_id: str | None
    extra: str | None
    grouping_key: str
    #: `path:line in function` of the app's frame that raised (None without one).
    culprit: str | None
    #: The v1 fingerprint, computed when first needed: a report that joins its group
    #: by grouping key (most of them) never needs it.
    _v1: str | None = None

    @property
    def fingerprint(self) -> str:
        if self._v1 is None:
            self._v1 = fingerprint(self.project, self.exception_type, self.traceback)
        return self._v1


@dataclass(slots=True)
class Outcome:
    status: str  # created | incremented | reopened (a regression)
    id: int
    count: int
    #: The group's v1 fingerprint (of its first report): its stable id for clients.
    fingerprint: str

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "id": self.id}
        if self.status != "created":
            out["count"] = self.count
        out["fingerprint"] = self.fingerprint
        return out

    @property
    def http_status(self) -> int:
        return 200 if self.status == "incremented" else 201


def parse_report(body: bytes) -> Report:
    """Validate a report body; BadRequest names the first offending field."""
    return report_from(json_object(body))


def report_from(data: dict[str, Any]) -> Report:
    """Validate a report's fields (a decoded body, or one built from a Sentry event)."""
    project = string_field(data, "project", required=True, min_len=1, max_len=100)
    exception_type = string_field(data, "exception_type", required=True, min_len=1, max_len=200)
    message = string_field(data, "message", required=True)
    traceback = string_field(data, "traceback", required=True)
    request_url = string_field(data, "request_url", max_len=500)
    request_method = string_field(data, "request_method", max_len=10)
    user_id = string_field(data, "user_id", max_len=100)
    headers = object_field(data, "request_headers")
    if headers is not None:
        for key, value in headers.items():
            if not isinstance(value, str):
                raise BadRequest(f"Field 'request_headers.{key}' must be a string")
    extra = object_field(data, "extra")
    environment = string_field(data, "environment", max_len=100)
    if environment is not None:
        extra = dict(extra or {})
        extra.setdefault("environment", environment)
    assert project is not None and exception_type is not None
    assert message is not None and traceback is not None
    try:
        client_fingerprint = check_fingerprint(data.get("fingerprint"))
    except ValueError as exc:
        raise BadRequest(f"Field 'fingerprint' {exc}") from None
    key, culprit = group_report(project, exception_type, message, traceback, client_fingerprint)
    try:  # orjson writes at most 254 levels though it reads 1024
        extra_text = orjson.dumps(extra).decode() if extra is not None else None
    except orjson.JSONEncodeError:
        raise BadRequest("Field 'extra' is nested too deeply") from None
    return Report(
        project=project,
        exception_type=exception_type,
        message=message,
        traceback=traceback,
        request_url=request_url,
        request_method=request_method,
        request_headers=orjson.dumps(headers).decode() if headers is not None else None,
        user_id=user_id,
        extra=extra_text,
        grouping_key=key,
        culprit=culprit,  # here on the event loop, not in the writer's job
    )


GroupRow = tuple[int, int, int, str, str | None]


@dataclass(slots=True)
class Groups:
    """What the writer remembers about the database's groups between jobs."""

    #: Whether groups from before grouping v2 may still wait for their key; None: not
    #: looked yet. Groups never lose a key, so once none waits none ever will, and a
    #: new group skips that lookup (most databases never had one).
    keyless: bool | None = None

    def any_keyless(self, conn: sqlite3.Connection) -> bool:
        if self.keyless is None:
            self.keyless = bool(
                conn.execute(
                    "SELECT EXISTS (SELECT 1 FROM errors WHERE grouping_key IS NULL)"
                ).fetchone()[0]
            )
        return self.keyless


def find_group(
    conn: sqlite3.Connection, report: Report, groups: Groups | None = None
) -> GroupRow | None:
    """(id, count, resolved, fingerprint, hourly) of the report's group, if it has one.

    By grouping key; else a group from before grouping v2 (no key yet) with the
    report's v1 fingerprint, which then takes the key: old databases keep their
    counts and history. A v1 group that already has another key is another bug
    raised at the same line (from another call path): the report starts its own.
    """
    row = conn.execute(
        "SELECT id, count, resolved, fingerprint, hourly FROM errors WHERE grouping_key = ?"
        " ORDER BY id DESC LIMIT 1",
        (report.grouping_key,),
    ).fetchone()
    if row is not None:
        return row  # type: ignore[no-any-return]
    if groups is not None and not groups.any_keyless(conn):
        return None
    row = conn.execute(
        "SELECT id, count, resolved, fingerprint, hourly FROM errors"
        " WHERE fingerprint = ? AND grouping_key IS NULL ORDER BY id DESC LIMIT 1",
        (report.fingerprint,),
    ).fetchone()
    if row is not None:
        conn.execute(
            "UPDATE errors SET grouping_key = ?, culprit = ? WHERE id = ?",
            (report.grouping_key, report.culprit, row[0]),
        )
    return row  # type: ignore[no-any-return]


def store(
    conn: sqlite3.Connection, report: Report, now: str | None = None, groups: Groups | None = None
) -> Outcome:
    """Create the group or count a repeat (reopening it), then add the occurrence.

    `groups` is the writer's memory between jobs; without it every lookup is made.
    """
    now = now or now_iso()
    row = find_group(conn, report, groups)
    if row is None:
        cur = conn.execute(
            "INSERT INTO errors (fingerprint, grouping_key, culprit, project, exception_type,"
            " message, traceback, count, first_seen, last_seen, resolved, hourly)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, 0, ?)",
            (
                report.fingerprint,
                report.grouping_key,
                report.culprit,
                report.project,
                report.exception_type,
                report.message,
                report.traceback,
                now,
                now,
                bump(None, hour_of(now)),
            ),
        )
        error_id = cur.lastrowid
        assert error_id is not None
        outcome = Outcome("created", error_id, 1, report.fingerprint)
    else:
        error_id, count, resolved, group_fingerprint = row[0], row[1] + 1, bool(row[2]), row[3]
        hourly = bump(row[4], hour_of(now))
        # Naming `resolved` in SET rewrites its index entries even when the value
        # stays 0, so the common repeat leaves it out.
        conn.execute(
            "UPDATE errors SET count = ?, last_seen = ?, hourly = ?, resolved = 0,"
            " resolved_at = NULL, regressed_at = ?, times_reopened = times_reopened + 1"
            " WHERE id = ?"
            if resolved
            else "UPDATE errors SET count = ?, last_seen = ?, hourly = ? WHERE id = ?",
            (count, now, hourly, now, error_id) if resolved else (count, now, hourly, error_id),
        )
        outcome = Outcome(
            "reopened" if resolved else "incremented", error_id, count, group_fingerprint
        )
    conn.execute(
        "INSERT INTO error_occurrences (error_id, timestamp, request_url, request_method,"
        " request_headers, user_id, extra, traceback) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            error_id,
            now,
            report.request_url,
            report.request_method,
            report.request_headers,
            report.user_id,
            report.extra,
            report.traceback,
        ),
    )
    if outcome.count > KEEP_OCCURRENCES:
        conn.execute(
            "DELETE FROM error_occurrences WHERE error_id = ? AND id <= ("
            " SELECT id FROM error_occurrences WHERE error_id = ?"
            " ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (error_id, error_id, KEEP_OCCURRENCES),
        )
    return outcome
