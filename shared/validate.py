"""Request parsing that answers bad input with a 400 naming the field."""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.datastructures import QueryParams

from shared.responses import BadRequest


def parse_json(body: bytes) -> Any:
    if not body:
        raise BadRequest("Request body is empty; expected JSON")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Invalid JSON: {exc}") from None


def json_object(body: bytes) -> dict[str, Any]:
    data = parse_json(body)
    if not isinstance(data, dict):
        raise BadRequest("Request body must be a JSON object")
    return data


def string_field(
    data: dict[str, Any],
    field: str,
    *,
    required: bool = False,
    min_len: int = 0,
    max_len: int | None = None,
    prefix: str = "",
) -> str | None:
    """A string field: None when absent (or null) and optional, else checked."""
    value = data.get(field)
    name = f"{prefix}{field}"
    if value is None:
        if required:
            raise BadRequest(f"Field '{name}' is required")
        return None
    if not isinstance(value, str):
        raise BadRequest(f"Field '{name}' must be a string")
    if len(value) < min_len:
        raise BadRequest(f"Field '{name}' must not be empty")
    if max_len is not None and len(value) > max_len:
        raise BadRequest(f"Field '{name}' must be at most {max_len} characters")
    return value


#: Deepest JSON a stored field may be: well inside the 254 levels orjson writes,
#: with room for the response that wraps it (`{"occurrences": [{"extra": …}]}`).
MAX_JSON_DEPTH = 128


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when objects/arrays nest more than `limit` levels (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def object_field(data: dict[str, Any], field: str, prefix: str = "") -> dict[str, Any] | None:
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest(f"Field '{prefix}{field}' must be an object")
    if json_depth_exceeds(value):
        raise BadRequest(
            f"Field '{prefix}{field}' is nested too deeply (at most {MAX_JSON_DEPTH} levels)"
        )
    return value


_ASCII_INT = re.compile(r"[+-]?[0-9]{1,40}")


def ascii_int(text: str) -> int:
    """An integer in plain ASCII digits; ValueError for `5_0`, `５`, ` 5`, `1e3`.

    Python's int() also takes underscores and any Unicode digit, which no
    client means and which would let odd spellings through caches and logs.
    """
    if _ASCII_INT.fullmatch(text) is None:
        raise ValueError(f"not an integer: {text!r}")
    return int(text)


#: Query integers are clamped to SQLite's INTEGER range instead of failing there.
QUERY_INT_MAX = 2**63 - 1


def query_int(
    params: QueryParams,
    name: str,
    default: int,
    *,
    minimum: int = 0,
) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = ascii_int(raw)
    except ValueError:
        raise BadRequest(f"Query parameter '{name}' must be an integer") from None
    if value < minimum:
        raise BadRequest(f"Query parameter '{name}' must be >= {minimum}")
    return min(value, QUERY_INT_MAX)  # SQLite integers are 64-bit; beyond is "past the end"


def query_choice(params: QueryParams, name: str, choices: tuple[str, ...], default: str) -> str:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if raw not in choices:
        raise BadRequest(f"Query parameter '{name}' must be one of: {', '.join(choices)}")
    return raw


def path_int(raw: str, not_found: str) -> int:
    """Path ids: anything but a positive integer is simply not found."""
    from shared.responses import NotFound

    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise NotFound(not_found)
    return int(raw)


# Durations: `<n><s|m|h|d>` with n >= 1 (`90s`, `5m`, `24h`, `30d`); anything
# else is a 400 naming the parameter, never a silent default.

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_DURATION = re.compile(r"([0-9]{1,12})([smhd])")


def parse_duration(text: str) -> int:
    """Seconds in `<n><s|m|h|d>`; ValueError for anything else (0, `1w`, `-5m`, `5`)."""
    match = _DURATION.fullmatch(text)
    if match is None or int(match.group(1)) < 1:
        raise ValueError(f"not a duration: {text!r}")
    return int(match.group(1)) * UNITS[match.group(2)]


def query_duration(params: QueryParams, name: str, default: str) -> tuple[str, int]:
    """(text, seconds) of a duration parameter; the default when absent or empty."""
    raw = params.get(name)
    text = default if raw is None or raw == "" else raw
    try:
        return text, parse_duration(text)
    except ValueError:
        raise BadRequest(
            f"Query parameter '{name}' must be a duration <n><s|m|h|d> with n >= 1,"
            " such as 90s, 5m, 24h or 7d"
        ) from None


def query_required(params: QueryParams, name: str, max_len: int | None = None) -> str:
    """A required, non-empty string parameter."""
    raw = params.get(name)
    if raw is None or not raw.strip():
        raise BadRequest(f"Query parameter '{name}' is required")
    if max_len is not None and len(raw) > max_len:
        raise BadRequest(f"Query parameter '{name}' must be at most {max_len} characters")
    return raw


def query_optional(params: QueryParams, name: str, max_len: int | None = None) -> str | None:
    """An optional string parameter; empty means absent."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if max_len is not None and len(raw) > max_len:
        raise BadRequest(f"Query parameter '{name}' must be at most {max_len} characters")
    return raw
