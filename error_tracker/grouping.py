"""Grouping v2: the key a group is found by, stable across deploys.

The v1 fingerprint (fingerprint.py) keeps the line number, so one edit above
a `raise` split a bug into two groups. The grouping key leaves lines out:
md5 of project, exception type and the in-app frames' (path, function) —
every in-app frame of a Python traceback's raised exception, the first
in-app frame of a JavaScript stack. Library code (site-packages,
dist-packages, the stdlib, node_modules, bundler runtimes) is not the
app's, and moves when a dependency is upgraded. With no usable frame the
message stands in, with what varies per occurrence (numbers, hex ids,
UUIDs, quoted values) replaced. A client may send its own `fingerprint`
list, where `"{{ default }}"` stands for the key computed here (as in
Sentry).

Paths are cut to their last three parts (`shop/web/cart.py`), so moving
the checkout (`/srv/app` → `/app`) or a bundle's content hash
(`app.3f9c2a1b.js` → `app.js`) does not split a group either.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

DEFAULT = "{{ default }}"

#: `File "<path>", line <n>[, in <function>]`, found by its literal start (no ^ scan).
_PY_FRAME = re.compile(r'File "([^"\n]*)", line (\d+)(?:, in ([^\n]*))?')
_PY_TRACEBACK = "Traceback (most recent call last):"
_PY_STDLIB = re.compile(r"[\\/]lib[\\/](?:python|pypy)\d|\\Lib\\")
#: `file:line[:col]` at the end of a frame's location (a possessive-free, linear match).
_LINE_COL = re.compile(r":(\d+)(?::\d+)?$")
#: Longer lines are not stack frames (a URL of a few hundred characters is): skipping
#: them keeps every scan linear in the traceback's size, whatever a client sends.
MAX_FRAME_LINE = 2000
_JS_LIBRARY = re.compile(
    r"(^|/)node_modules/|^webpack/(bootstrap|runtime)|/webpack/(bootstrap|runtime)|"
    r"(^|/)@vite/|/\.vite/deps/|^native$|^<anonymous>$|\[native code\]|^node:"
)
_BUNDLE_HASH = re.compile(r"[.-][0-9a-fA-F]{6,}(?=\.[A-Za-z0-9]+$)")
MAX_CULPRIT = 300

_UUID = re.compile(r"\b[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b")
_HEX = re.compile(
    r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{6,}\b"
)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"\b\d+(\.\d+)?\b")
_MAX_FINGERPRINT_PARTS = 20

#: An in-app frame: (short path, line, function).
Frame = tuple[str, str, str]


def short_path(path: str) -> str:
    """The last three parts of a path or URL path, without a bundle's content hash."""
    if "\\" in path:
        path = path.replace("\\", "/")
    tail = [p for p in path.rsplit("/", 3)[-3:] if p]
    if tail and any(c.isdigit() for c in tail[-1]):
        tail[-1] = _BUNDLE_HASH.sub("", tail[-1])
    return "/".join(tail)


def _python_in_app(path: str) -> bool:
    """Not a library: site-/dist-packages, the stdlib, frozen modules, `<string>`."""
    if "-packages" in path or path.startswith("<"):
        return False
    return ("lib" not in path and "Lib" not in path) or _PY_STDLIB.search(path) is None


def python_in_app(traceback: str) -> list[Frame]:
    """The in-app frames of the raised exception's traceback, outermost first.

    A chained traceback lists the causes first; the raised exception's own
    frames are those after the last `Traceback (most recent call last):`.
    """
    if 'File "' not in traceback:
        return []
    last = traceback.rfind(_PY_TRACEBACK)
    text = traceback[last:] if last > 0 else traceback
    return [
        (short_path(path), line, (function or "").strip())
        for path, line, function in _PY_FRAME.findall(text)
        if _python_in_app(path)
    ]


def js_frame_line(raw: str) -> tuple[str, str, str] | None:
    """(function, location, line) of a V8 (`at fn (url:1:2)`), Firefox or Safari
    (`fn@url:1:2`) frame line; None for anything else. Split by hand, not by one
    regex with two lazy groups, which took seconds on a hostile 48 KB line."""
    if len(raw) > MAX_FRAME_LINE:
        return None
    line = raw.strip()
    if line.startswith("at "):
        rest = line[3:].lstrip()
        if rest.startswith("async "):
            rest = rest[6:]
        function = ""
        if rest.endswith(")") and " (" in rest:
            function, _, rest = rest[:-1].partition(" (")
    else:
        function, at, rest = line.partition("@")
        if not at or " " in function:
            return None
    found = _LINE_COL.search(rest)
    if found is None or found.start() == 0:
        return None
    return function, rest[: found.start()], found.group(1)


def js_in_app(stack: str) -> Frame | None:
    """The first in-app frame of a V8, Firefox or Safari stack."""
    for raw in stack.splitlines():
        parsed = js_frame_line(raw)
        if parsed is None:
            continue
        function, location, line = parsed
        if "(" in location or " " in location:  # eval frames and other shapes
            continue
        if _JS_LIBRARY.search(location):
            continue
        try:
            path = urlsplit(location).path or location
        except ValueError:
            path = location
        return short_path(path), line, function
    return None


def in_app_frames(traceback: str) -> list[Frame]:
    """What grouping and the culprit read: Python's in-app frames, else JavaScript's first."""
    frames = python_in_app(traceback)
    if frames:
        return frames
    js = js_in_app(traceback)
    return [js] if js else []


def python_frames(traceback: str) -> list[tuple[str, str]]:
    return [(path, function) for path, _, function in python_in_app(traceback)]


def js_frame(stack: str) -> tuple[str, str] | None:
    found = js_in_app(stack)
    return None if found is None else (found[0], found[2])


def culprit_of(frames: list[Frame], python: bool) -> str | None:
    """`path:line in function` of the frame that raised: Python's deepest in-app frame,
    JavaScript's first (the throw site)."""
    if not frames:
        return None
    path, line, function = frames[-1] if python else frames[0]
    where = f"{path}:{line}"
    return (f"{where} in {function}" if function else where)[:MAX_CULPRIT]


def culprit(traceback: str) -> str | None:
    frames = python_in_app(traceback)
    if frames:
        return culprit_of(frames, python=True)
    js = js_in_app(traceback)
    return culprit_of([js], python=False) if js else None


def normalized_message(message: str) -> str:
    """What stays the same from one occurrence of a message to the next."""
    text = _UUID.sub("<uuid>", message[:1000])
    text = _QUOTED.sub("<str>", text)
    text = _HEX.sub("<hex>", text)
    return _NUMBER.sub("<n>", text)


def default_parts(message: str, frames: list[Frame]) -> list[str]:
    if frames:
        return [f"{path}:{function}" for path, _, function in frames]
    return ["message:" + normalized_message(message)]


def key_of(
    project: str,
    exception_type: str,
    message: str,
    frames: list[Frame],
    fingerprint: Sequence[str] | None = None,
) -> str:
    parts = default_parts(message, frames)
    if fingerprint:
        expanded: list[str] = []
        for part in fingerprint:
            expanded += parts if part == DEFAULT else ["client:" + part]
        parts = expanded
    key = "\x1f".join([project, exception_type, *parts])
    return hashlib.md5(key.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()


def grouping_key(
    project: str,
    exception_type: str,
    message: str,
    traceback: str,
    fingerprint: Sequence[str] | None = None,
) -> str:
    return key_of(project, exception_type, message, in_app_frames(traceback), fingerprint)


def group_report(
    project: str,
    exception_type: str,
    message: str,
    traceback: str,
    fingerprint: Sequence[str] | None = None,
) -> tuple[str, str | None]:
    """(grouping key, culprit) from one pass over the traceback (the ingest path)."""
    frames = python_in_app(traceback)
    python = bool(frames)
    if not python:
        js = js_in_app(traceback)
        frames = [js] if js else []
    key = key_of(project, exception_type, message, frames, fingerprint)
    return key, culprit_of(frames, python)


def check_fingerprint(value: object) -> list[str] | None:
    """A client's `fingerprint` field: a list of 1-20 strings, or None; ValueError if not."""
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= _MAX_FINGERPRINT_PARTS
        or not all(isinstance(p, str) and 0 < len(p) <= 200 for p in value)
    ):
        raise ValueError(
            f"must be a list of 1-{_MAX_FINGERPRINT_PARTS} non-empty strings of at most 200"
            ' characters ("{{ default }}" stands for the computed grouping)'
        )
    return list(value)


def _js_location_in_app(location: str) -> bool:
    return not ("(" in location or " " in location or _JS_LIBRARY.search(location))


def traceback_frames(traceback: str) -> list[dict[str, Any]]:
    """The frames of a traceback as line spans, for the detail view to fold and highlight.

    Lines are `traceback.split("\\n")`; a frame is `start` to `end` (exclusive): a
    Python frame is its `File "..."` line and the indented source and `^^^^`
    lines under it, a JavaScript frame one line. `in_app` is the rule grouping
    uses; `culprit` marks the frame the culprit names (Python: the raised
    exception's deepest in-app frame; JavaScript: the first in-app frame).
    """
    frames: list[dict[str, Any]] = []
    raised_from = 0  # first frame of the raised exception (after the last chain header)
    python = False
    current: dict[str, Any] | None = None
    for i, line in enumerate(traceback.split("\n")):
        stripped = line.lstrip()
        if stripped.startswith('File "'):
            match = _PY_FRAME.match(stripped)
            if match:
                python = True
                current = {"start": i, "end": i + 1, "in_app": _python_in_app(match.group(1))}
                frames.append(current)
                continue
        if current is not None and python and line[:1] in (" ", "\t") and stripped:
            current["end"] = i + 1  # the frame's source line, `^^^^` markers
            continue
        current = None
        if stripped.startswith(_PY_TRACEBACK):
            raised_from = len(frames)
            continue
        if python:
            continue
        js = js_frame_line(line)
        if js is not None:
            frames.append({"start": i, "end": i + 1, "in_app": _js_location_in_app(js[1])})
    for frame in frames:
        frame["culprit"] = False
    if python:
        app = [f for f in frames[raised_from:] if f["in_app"]]
        if app:
            app[-1]["culprit"] = True
    else:
        first = next((f for f in frames if f["in_app"]), None)
        if first is not None:
            first["culprit"] = True
    return frames
