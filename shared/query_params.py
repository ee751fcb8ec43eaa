"""Query parameters every list/chart endpoint shares: durations and required strings.

A duration is `<n><s|m|h|d>` with n ≥ 1 (`90s`, `5m`, `24h`, `30d`); anything
else is a 400 naming the parameter, never a silent default.
"""

from __future__ import annotations

import re

from starlette.datastructures import QueryParams

from shared.responses import BadRequest

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
