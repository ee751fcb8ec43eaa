"""Grouping key of an error: md5 of project, type and the code location.

Must stay byte-for-byte compatible with the earlier implementation so that
existing databases keep grouping the same way.
"""

from __future__ import annotations

import hashlib
import re

_PY_FRAME = re.compile(r'File "([^"]*)", line (\d+)')
_LOCATION = re.compile(r"^(.+?):(\d+)(?::\d+)?$")


def python_location(traceback: str) -> tuple[str, str] | None:
    """The deepest frame of a Python traceback: its last `File "...", line N`."""
    last = None
    for last in _PY_FRAME.finditer(traceback):  # noqa: B007 - we want the last one
        pass
    return (last.group(1), last.group(2)) if last else None


def _split_location(location: str) -> tuple[str, str] | None:
    match = _LOCATION.match(location.strip())
    if not match:
        return None
    file = match.group(1)
    if file in ("<anonymous>", "native") or not file:
        return None
    return file, match.group(2)


def js_location(stack: str) -> tuple[str, str] | None:
    """The throw site of a JS stack: the first frame that carries `:line[:col]`.

    Chrome/V8 frames read `at fn (url:line:col)` or `at url:line:col`;
    Firefox/Safari frames read `fn@url:line:col` or `@url:line:col`.
    """
    for raw in stack.splitlines():
        line = raw.strip()
        if line.startswith("at "):
            rest = line[3:].strip()
            if rest.endswith(")") and "(" in rest:
                rest = rest[rest.rfind("(") + 1 : -1]
            found = _split_location(rest)
        elif "@" in line:
            found = _split_location(line.partition("@")[2])
        else:
            continue
        if found:
            return found
    return None


def code_location(traceback: str) -> str:
    """`file:line` of the error, or the whole traceback when none is found."""
    found = python_location(traceback) or js_location(traceback)
    return f"{found[0]}:{found[1]}" if found else traceback


def fingerprint(project: str, exception_type: str, traceback: str) -> str:
    key = f"{project}:{exception_type}:{code_location(traceback)}"
    return hashlib.md5(key.encode("utf-8"), usedforsecurity=False).hexdigest()
