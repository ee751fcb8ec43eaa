"""Which level a log line is at: the rules of the spec, first match wins.

1. a JSON message with `level`, `severity` or `lvl` (names, or pino's
   numbers 10-60);
2. a bracketed level, `[ERROR]`, `[warn]`;
3. `level=error` (logfmt), quoted or not;
4. a leading `ERROR:` / `WARNING:` prefix;
5. a leading timestamp then the level — our own stack's lines
   (`2026-12-02T10:00:00Z ERROR monlight.x: ...`) and Python logging's
   default (`2026-12-02 10:00:00,123 WARNING ...`) — or the level then a
   logger name and a colon (`ERROR app.views: ...`);
6. otherwise the stream: stderr → ERROR, stdout → INFO.

Names are normalised to DEBUG, INFO, WARNING, ERROR, CRITICAL.
"""

from __future__ import annotations

import re

import orjson

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_NAMES = {
    "trace": "DEBUG",
    "debug": "DEBUG",
    "dbg": "DEBUG",
    "info": "INFO",
    "information": "INFO",
    "notice": "INFO",
    "warn": "WARNING",
    "warning": "WARNING",
    "err": "ERROR",
    "error": "ERROR",
    "crit": "CRITICAL",
    "critical": "CRITICAL",
    "fatal": "CRITICAL",
    "panic": "CRITICAL",
    "alert": "CRITICAL",
    "emerg": "CRITICAL",
    "emergency": "CRITICAL",
}
_WORD = "|".join(sorted(_NAMES, key=len, reverse=True))
_BRACKET = re.compile(rf"\[\s*({_WORD})\s*\]", re.IGNORECASE)
_LOGFMT = re.compile(rf"(?:^|\s)(?:level|lvl|severity)=\"?({_WORD})\b", re.IGNORECASE)
_PREFIX = re.compile(rf"^\s*({_WORD})\s*:", re.IGNORECASE)
_STAMPED = re.compile(
    rf"^\s*\d{{4}}-\d\d-\d\d[T ][\d:.,]+(?:Z|[+-]\d\d:?\d\d)?\s+-?\s*({_WORD})\b", re.IGNORECASE
)
#: `ERROR app.views: message` (Python's `%(levelname)s %(name)s: ...`): upper case only,
#: so prose such as "Error handling: on" is not taken for a level.
_NAMED = re.compile(r"^\s*(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)\s+[\w.\-]+:\s")
#: How far into a line the bracket and logfmt rules look (levels sit near the start).
_HEAD = 300


def normalize(name: object) -> str | None:
    """A level name (or pino number) as one of LEVELS; None when it is not one."""
    if isinstance(name, bool):
        return None
    if isinstance(name, int | float):
        number = int(name)  # pino: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal
        if number >= 60:
            return "CRITICAL"
        return {50: "ERROR", 40: "WARNING", 30: "INFO"}.get(number // 10 * 10, "DEBUG")
    if isinstance(name, str):
        return _NAMES.get(name.strip().lower())
    return None


def json_level(text: str) -> str | None:
    """The level field of a JSON log line, if the line is a JSON object with one."""
    stripped = text.lstrip()
    if not stripped.startswith("{"):
        return None
    try:
        data = orjson.loads(stripped)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    for key in ("level", "severity", "lvl", "levelname", "log.level"):
        if key in data:
            level = normalize(data[key])
            if level is not None:
                return level
    return None


def detect(text: str, stream: str) -> str:
    """The level of a line (the first line of an entry), by the rules above."""
    level = json_level(text)
    if level is not None:
        return level
    head = text[:_HEAD]
    for pattern in (_BRACKET, _LOGFMT, _PREFIX, _STAMPED, _NAMED):
        match = pattern.search(head)
        if match:
            return _NAMES[match.group(1).lower()]
    return "ERROR" if stream == "stderr" else "INFO"
