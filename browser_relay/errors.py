"""POST /api/browser/errors: a browser's error report → the Error Tracker's payload.

Pure: validation (400 naming the field) and the transformation of the spec.
The stack is rewritten from source maps before this runs (see maps.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from browser_relay.config import MAX_PROJECT
from shared.responses import BadRequest
from shared.validate import string_field

#: The tracker's own field limits: longer values are cut here rather than refused there.
MAX_TYPE = 200
MAX_URL = 500
MAX_USER_ID = 100
MAX_SHORT = 1_000  # user agent, session id, release, timestamp


@dataclass(frozen=True, slots=True)
class BrowserError:
    type: str
    message: str
    stack: str
    url: str | None
    user_agent: str | None
    session_id: str | None
    release: str | None
    context: dict[str, Any] | None
    timestamp: str | None


def parse_error(data: dict[str, Any]) -> BrowserError:
    """What the SDKs send (ours and the earlier `@monlight/browser`), checked."""
    kind = string_field(data, "type", required=True, min_len=1)
    message = string_field(data, "message", required=True)
    context = data.get("context")
    if context is not None and not isinstance(context, dict):
        raise BadRequest("Field 'context' must be an object")
    timestamp = data.get("timestamp")
    if timestamp is not None and not isinstance(timestamp, str | int | float):
        raise BadRequest("Field 'timestamp' must be a string or a number")
    return BrowserError(
        type=_cut(kind, MAX_TYPE) or "Error",
        message=message or "",
        stack=string_field(data, "stack") or "",
        url=_cut(string_field(data, "url"), MAX_URL),
        user_agent=_cut(string_field(data, "user_agent"), MAX_SHORT),
        session_id=_cut(string_field(data, "session_id"), MAX_SHORT),
        release=_cut(string_field(data, "release"), MAX_SHORT),
        context=context,
        timestamp=None if timestamp is None else _cut(str(timestamp), MAX_SHORT),
    )


def tracker_payload(
    error: BrowserError, project: str, stack: str, original: str | None
) -> dict[str, Any]:
    """The spec's forward: `stack` is the (maybe rewritten) traceback, `original` the
    stack as the browser sent it when it was rewritten."""
    extra: dict[str, Any] = {
        "user_agent": error.user_agent,
        "session_id": error.session_id,
        "release": error.release,
        "context": error.context,
    }
    if original is not None:
        extra["original_stack"] = original
    if error.timestamp is not None:
        extra["timestamp"] = error.timestamp
    payload: dict[str, Any] = {
        "project": project[:MAX_PROJECT],
        "exception_type": error.type,
        "message": error.message,
        "traceback": stack,
        "request_url": error.url,
        "request_method": "BROWSER",
        "extra": extra,
    }
    user_id = (error.context or {}).get("user_id")
    if isinstance(user_id, str | int) and not isinstance(user_id, bool) and str(user_id):
        payload["user_id"] = str(user_id)[:MAX_USER_ID]
    if payload["request_url"] is None:
        del payload["request_url"]
    return payload


def _cut(value: str | None, limit: int) -> str | None:
    return None if value is None else value[:limit]
