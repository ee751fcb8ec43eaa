"""Sentry's ingestion protocol: any Sentry SDK reports here by changing its DSN.

`POST /api/<project_id>/envelope/` (and the legacy `/store/`) take no
X-API-Key: the DSN's public key comes in `X-Sentry-Auth`, `?sentry_key=` or
the envelope header's `dsn`, and must belong to that project id. Events
and failed cron check-ins become reports (sentry_events.py) stored in one
write job; every other item type (transactions, sessions, client reports,
attachments...) is accepted, counted and dropped for now, never refused —
a 4xx makes an SDK retry forever. A saturated writer answers 429 with `Retry-After` and
`X-Sentry-Rate-Limits`, so SDKs back off instead of dropping blindly.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request

from error_tracker import dsn
from error_tracker.envelope import Envelope, decompress, item_json
from error_tracker.ingestion import Report
from error_tracker.sentry_events import check_in_report, report_of
from shared.keys import KeyRing
from shared.middleware import is_api, query_param
from shared.responses import ApiError, BadRequest
from shared.validate import json_object

#: Sentry's own event size limit: what a body may grow to once decompressed.
MAX_EVENT_BYTES = 1024 * 1024
_INGEST_PATH = re.compile(r"/api/\d+/(?:envelope|store)/?")
_AUTH_PAIR = re.compile(r"(\w+)\s*=\s*([^,\s]+)")
MAX_KEY = 64


def keyed(path: str) -> bool:
    """The tracker's API key guards `/api/*` except Sentry's ingest routes (DSN keys)."""
    return is_api(path) and _INGEST_PATH.fullmatch(path) is None


def given_key(request: Request, envelope_dsn: Any = None) -> str | None:
    """The DSN public key of a Sentry request, wherever the SDK put it."""
    auth = request.headers.get("x-sentry-auth") or request.headers.get("authorization") or ""
    if auth[:7].lower() == "sentry ":
        pairs: dict[str, str] = dict(_AUTH_PAIR.findall(auth[7:]))
        if pairs.get("sentry_key"):
            return pairs["sentry_key"]
    key = query_param(request.scope, "sentry_key")
    if key:
        return key
    if isinstance(envelope_dsn, str):
        try:
            return urlsplit(envelope_dsn).username or None
        except ValueError:
            return None
    return None


@dataclass
class SentryIntake:
    """The DSN key ring and the counts of what was dropped (by item type or reason)."""

    load: Callable[[], Awaitable[KeyRing[dsn.Owner]]]
    ring: KeyRing[dsn.Owner] | None = None
    dropped: Counter[str] = field(default_factory=Counter)

    def changed(self) -> None:
        self.ring = None

    async def project_of(self, request: Request, project_id: int, envelope_dsn: Any = None) -> str:
        key = given_key(request, envelope_dsn)
        ring = self.ring
        if ring is None or ring.stale:
            ring = self.ring = await self.load()
        owner = ring.find(key.encode()) if key and len(key) <= MAX_KEY else None
        if owner is None or owner[0] != project_id:
            raise ApiError(401, "Invalid DSN key for this project")
        return owner[1]


def reports_of(
    envelope: Envelope, project: str, intake: SentryIntake
) -> tuple[list[Report], str | None]:
    """The reports of an envelope's events, and the event id to answer with."""
    for reason in envelope.dropped:
        intake.dropped[reason] += 1
    reports: list[Report] = []
    event_id = envelope.headers.get("event_id")
    for item in envelope.items:
        if item.type == "check_in":
            check_in = item_json(item)
            failed = check_in_report(check_in, project) if check_in is not None else None
            if failed is not None:
                reports.append(failed)
            continue
        if item.type != "event":
            intake.dropped[item.type[:40]] += 1  # accepted, counted, not kept (yet)
            continue
        event = item_json(item)
        if event is None:
            intake.dropped["an event that is not a JSON object"] += 1
            continue
        event_id = event.get("event_id") or event_id
        try:
            reports.append(report_of(event, project))
        except BadRequest:
            intake.dropped["an event with nothing to group"] += 1
    return reports, event_id if isinstance(event_id, str) else None


def body_of(raw: bytes, request: Request) -> bytes:
    return decompress(raw, request.headers.get("content-encoding"), MAX_EVENT_BYTES)


def event_report(body: bytes, project: str) -> tuple[Report, str | None]:
    """The legacy `/store/` body: one event as JSON."""
    event = json_object(body)
    event_id = event.get("event_id")
    return report_of(event, project), event_id if isinstance(event_id, str) else None


def answer_id(event_id: str | None) -> dict[str, str]:
    return {"id": event_id or uuid.uuid4().hex}


def rate_limited() -> ApiError:
    """A saturated writer, in Sentry's words: SDKs back off for a second."""
    return ApiError(
        429,
        "Service overloaded, retry shortly",
        {"Retry-After": "1", "X-Sentry-Rate-Limits": "1::organization"},
    )
