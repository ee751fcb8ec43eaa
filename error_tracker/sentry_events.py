"""A Sentry event as one of our reports: the same grouping, culprit and views.

The exception chain becomes a traceback in the language's own text form —
Python's `Traceback (most recent call last):` blocks, causes first, or a
V8-style stack for JavaScript — so grouping v2, the culprit and the folded
traceback view read it as they read our clients' reports. The raised
exception (Sentry lists it last) gives the group its type and message; a
`message`/`logentry` event groups by its normalised message. Request, user,
tags, contexts, release, environment, server name, the SDK and the last 50
breadcrumbs are kept in the occurrence (`request_*`, `user_id`, `extra`).
"""

from __future__ import annotations

from typing import Any

from error_tracker.ingestion import Report, report_from
from shared.responses import BadRequest

MAX_BREADCRUMBS = 50
#: Platforms whose stacks read as JavaScript (newest frame first, `at fn (file:line:col)`).
JS_PLATFORMS = frozenset(("javascript", "node", "react-native"))
_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"


def _text(value: Any, limit: int = 10_000) -> str:
    if value is None:
        return ""
    return (value if isinstance(value, str) else str(value))[:limit]


def _frames(exception: dict[str, Any]) -> list[dict[str, Any]]:
    stacktrace = exception.get("stacktrace")
    frames = stacktrace.get("frames") if isinstance(stacktrace, dict) else None
    return [f for f in frames if isinstance(f, dict)] if isinstance(frames, list) else []


def _path(frame: dict[str, Any]) -> str:
    return _text(frame.get("abs_path") or frame.get("filename") or frame.get("module") or "?", 500)


def python_traceback(chain: list[dict[str, Any]]) -> str:
    """Causes first, each as Python prints it; the raised exception last."""
    blocks = []
    for exception in chain:
        lines = ["Traceback (most recent call last):"]
        for frame in _frames(exception):
            where = f'  File "{_path(frame)}", line {_text(frame.get("lineno") or 0, 20)}'
            function = _text(frame.get("function"), 200)
            lines.append(f"{where}, in {function}" if function else where)
            context = _text(frame.get("context_line"), 500).strip()
            if context:
                lines.append(f"    {context}")
        lines.append(_exception_line(exception))
        blocks.append("\n".join(lines) + "\n")
    return _CAUSE.join(blocks)


def js_stack(chain: list[dict[str, Any]]) -> str:
    """The raised exception's stack, V8-style (newest frame first), causes after it."""
    blocks = []
    for exception in reversed(chain):
        lines = [_exception_line(exception)]
        for frame in reversed(_frames(exception)):
            where = f"{_path(frame)}:{_text(frame.get('lineno') or 0, 20)}"
            if frame.get("colno") is not None:
                where += f":{_text(frame.get('colno'), 20)}"
            function = _text(frame.get("function"), 200)
            if function in ("?", "<anonymous>"):  # how Sentry spells "no name"
                function = ""
            lines.append(f"    at {function} ({where})" if function else f"    at {where}")
        blocks.append("\n".join(lines))
    return "\nCaused by: ".join(blocks) + "\n"


def _exception_line(exception: dict[str, Any]) -> str:
    kind = _text(exception.get("type") or "Error", 200)
    value = _text(exception.get("value"))
    return f"{kind}: {value}" if value else kind


def _message(event: dict[str, Any]) -> str:
    for field in ("logentry", "message"):
        value = event.get(field)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict):
            text = value.get("formatted") or value.get("message")
            if isinstance(text, str) and text:
                return text
    return ""


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _headers(raw: Any) -> dict[str, str] | None:
    pairs = raw.items() if isinstance(raw, dict) else raw if isinstance(raw, list) else None
    if pairs is None:
        return None
    out: dict[str, str] = {}
    for pair in pairs:
        if isinstance(pair, (list, tuple)) and len(pair) == 2:
            key, value = pair
            if isinstance(key, str) and isinstance(value, str):
                out[key[:200]] = value[:2000]
    return out or None


def report_of(event: dict[str, Any], project: str) -> Report:
    """Our report for a Sentry event; BadRequest when it carries nothing to group."""
    exception = event.get("exception")
    values = exception.get("values") if isinstance(exception, dict) else exception
    chain = [e for e in values if isinstance(e, dict)] if isinstance(values, list) else []
    platform = _text(event.get("platform"), 50)
    message = _message(event)
    if chain:
        raised = chain[-1]
        exception_type = _text(raised.get("type") or "Error", 200) or "Error"
        text = _text(raised.get("value")) or message
        traceback = js_stack(chain) if platform in JS_PLATFORMS else python_traceback(chain)
    elif message:
        level = _text(event.get("level") or "info", 20)
        exception_type = f"Message ({level})"
        text = message
        traceback = message
    else:
        raise BadRequest("The event has neither an exception nor a message")
    request = _object(event.get("request"))
    user = _object(event.get("user"))
    user_id = next(
        (_text(user.get(k), 100) for k in ("id", "email", "username", "ip_address") if user.get(k)),
        None,
    )
    extra: dict[str, Any] = {
        key: event[key]
        for key in ("level", "release", "environment", "server_name", "tags", "contexts", "extra")
        if event.get(key) not in (None, "", {}, [])
    }
    sdk = event.get("sdk")
    if isinstance(sdk, dict) and sdk.get("name"):
        extra["sdk"] = f"{_text(sdk.get('name'), 100)}/{_text(sdk.get('version'), 50)}"
    crumbs = event.get("breadcrumbs")
    crumbs = crumbs.get("values") if isinstance(crumbs, dict) else crumbs
    if isinstance(crumbs, list) and crumbs:
        extra["breadcrumbs"] = crumbs[-MAX_BREADCRUMBS:]
    if isinstance(event.get("event_id"), str):
        extra["event_id"] = event["event_id"][:64]
    fingerprint = event.get("fingerprint")
    body: dict[str, Any] = {
        "project": project,
        "exception_type": exception_type,
        "message": text,
        "traceback": traceback,
        "request_url": _text(request.get("url"), 500) or None,
        "request_method": _text(request.get("method"), 10) or None,
        "request_headers": _headers(request.get("headers")),
        "user_id": user_id,
        "extra": extra or None,
        "fingerprint": fingerprint if isinstance(fingerprint, list) and fingerprint else None,
    }
    return report_from(body)


def check_in_report(check_in: dict[str, Any], project: str) -> Report | None:
    """A failed cron check-in as an error of its monitor (one group per monitor); None
    for the others (in progress, ok). Missed check-ins need the schedule: not yet."""
    if check_in.get("status") != "error":
        return None
    slug = _text(check_in.get("monitor_slug") or "unnamed", 100)
    duration = check_in.get("duration")
    took = f" after {duration:.1f} s" if isinstance(duration, (int, float)) else ""
    message = f"Monitor {slug!r} checked in with an error{took}"
    extra = {
        key: check_in[key]
        for key in ("check_in_id", "environment", "monitor_config", "duration")
        if check_in.get(key) not in (None, "", {})
    }
    return report_from(
        {
            "project": project,
            "exception_type": "CheckInFailed",
            "message": message,
            "traceback": message,
            "extra": {"monitor_slug": slug, **extra},
            "fingerprint": ["check-in", slug],
        }
    )
