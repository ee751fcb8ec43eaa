"""Stack frames of browser errors: parsing them and rewriting them through source maps.

Recognised frame lines (anything else — the message line, `at Array.map (<anonymous>)`,
garbage — is kept verbatim):

- Chrome/V8: `    at fn (url:line:col)`, `    at url:line:col`, `at async fn (...)`,
  `at async url:line:col`, `at new Foo (...)`, `at Object.<anonymous> (...)`,
  `at Foo.bar [as baz] (...)`.
- Firefox/Safari: `fn@url:line:col`, `@url:line:col`, `fn@url:line` (no column: parsed,
  but not rewritten — any column we guessed could name the wrong original line).

Eval frames (V8's `at eval (eval at f (url:1:2), <anonymous>:3:4)`, Firefox's
`f@url line 2 > eval:3:4`) are left as they are: the position is inside code that eval
made, which no uploaded map describes, and rewriting only the embedded call site would
present it as the frame's own location.

URLs may hold `:` (ports), `@` (scoped npm paths), queries and fragments; they may not
hold whitespace. Stack columns are 1-based, map columns 0-based: the lookup gets
`column - 1`, and the rewritten frame shows the original column + 1.

The work is bounded whatever the input: only the first `MAX_LINES` lines are looked at,
lines longer than `MAX_LINE_LENGTH` are not parsed, at most `MAX_FRAMES` frames are looked
up, and line or column numbers beyond `MAX_POSITION` (10**30, say) leave the frame as it
is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from browser_relay.sourcemap import Original

__all__ = [
    "MAX_FRAMES",
    "MAX_LINE_LENGTH",
    "MAX_LINES",
    "MAX_POSITION",
    "Frame",
    "Lookup",
    "format_frame",
    "frame_urls",
    "normalize_url",
    "parse_frame",
    "rewrite",
]

#: (normalized url, line 1-based, column 0-based) -> the original position, if mapped.
Lookup = Callable[[str, int, int], Original | None]

#: Frames looked up per stack, at most; later frames stay as they are.
MAX_FRAMES = 100
#: Longer lines are not frames we parse (a frame line is rarely over a few hundred).
MAX_LINE_LENGTH = 2048
#: Lines looked at per stack, at most (message lines included).
MAX_LINES = 2000
#: Larger line or column numbers are no real position: such frames stay as they are.
MAX_POSITION = 2**31 - 1

#: Schemes whose scripts are never the page's own files (extensions, opaque URLs).
_FOREIGN_SCHEMES = frozenset(
    {
        "about",
        "blob",
        "chrome",
        "chrome-extension",
        "data",
        "javascript",
        "moz-extension",
        "resource",
        "safari-extension",
        "safari-web-extension",
        "webkit-masked-url",
    }
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_WHITESPACE = re.compile(r"\s")


@dataclass(frozen=True, slots=True)
class Frame:
    """One parsed frame line, in the parts a rewrite keeps or replaces.

    `prefix` is what stays in front of the function name when it is replaced: `async `
    or `new ` (Chrome), `async*`-style markers up to the last `*` (Firefox). `trailing`
    is the whitespace (a `\r`, say) after the frame, kept as it was.
    """

    style: Literal["chrome", "firefox"]
    indent: str
    prefix: str
    function: str | None
    url: str
    line: int
    column: int | None  # 1-based, as printed
    trailing: str = ""


def _position(text: str) -> int | None:
    """A printed line/column number, or None when it is not one or is out of range."""
    if not text or len(text) > 10 or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= MAX_POSITION else None


def _location(text: str) -> tuple[str, int, int | None] | None:
    """`url:line:col` or `url:line`, the URL non-empty and without whitespace."""
    url, sep, last = text.rpartition(":")
    if not sep:
        return None
    column = _position(last)
    if column is None:
        return None
    head, sep, middle = url.rpartition(":")
    line = _position(middle) if sep else None
    if line is not None:
        url = head
    else:
        if sep and middle.isascii() and middle.isdigit():
            return None  # a number, but out of range
        line, column = column, None
    if not url or _WHITESPACE.search(url):
        return None
    return url, line, column


def parse_frame(line: str) -> Frame | None:
    """The frame on `line`, or None for anything that is not one we can rewrite."""
    text = line.rstrip()
    trailing = line[len(text) :]
    body = text.lstrip()
    indent = text[: len(text) - len(body)]
    if body.startswith("at "):
        return _parse_chrome(body[3:], indent, trailing)
    return _parse_firefox(body, indent, trailing)


def _parse_chrome(body: str, indent: str, trailing: str) -> Frame | None:
    if "eval at " in body:
        return None
    function: str | None = None
    prefix = ""
    if body.endswith(")"):
        split = body.rfind(" (")
        if split <= 0:
            return None
        function, where = body[:split], body[split + 2 : -1]
        for marker in ("async ", "new "):
            if function.startswith(marker):
                prefix, function = marker, function[len(marker) :]
                break
    else:
        where = body
        if where.startswith("async "):
            prefix, where = "async ", where[len("async ") :]
    location = _location(where)
    if location is None or location[2] is None:  # V8 always prints a column
        return None
    url, line, column = location
    return Frame("chrome", indent, prefix, function, url, line, column, trailing)


def _parse_firefox(body: str, indent: str, trailing: str) -> Frame | None:
    at = body.find("@")
    if at < 0:
        return None
    function, where = body[:at], body[at + 1 :]
    location = _location(where)
    if location is None:
        return None
    star = function.rfind("*")
    prefix, function = function[: star + 1], function[star + 1 :]
    url, line, column = location
    return Frame("firefox", indent, prefix, function or None, url, line, column, trailing)


def normalize_url(url: str) -> str:
    """The path a frame URL and a stored `file_url` are matched on.

    Scheme, host, query and fragment go: `https://cdn.x.com/assets/a.js?v=2` ->
    `/assets/a.js`; a bare path stays (`/assets/a.js`, `a.js`). URLs that are never a
    file of the site — `blob:`, `data:`, extension schemes, opaque `scheme:stuff` — give
    "", which `rewrite` never looks up.
    """
    url = url.strip()
    m = _SCHEME.match(url)
    if m:
        if m.group()[:-1].lower() in _FOREIGN_SCHEMES:
            return ""
        url = url[m.end() :]
        if not url.startswith("/"):
            return ""
    for stop in "?#":
        cut = url.find(stop)
        if cut >= 0:
            url = url[:cut]
    if url.startswith("//"):  # the authority (host, port, user) goes too
        slash = url.find("/", 2)
        url = url[slash:] if slash >= 0 else "/"
    return url


def format_frame(frame: Frame, original: Original) -> str:
    """`frame` pointing at `original`, in the frame's own style; the name is the map's
    when it has one, else the frame's."""
    name = original.name or frame.function
    where = f"{original.source}:{original.line}:{original.column + 1}"
    if frame.style == "firefox":
        text = f"{frame.indent}{frame.prefix}{name or ''}@{where}"
    elif name:
        text = f"{frame.indent}at {frame.prefix}{name} ({where})"
    else:
        text = f"{frame.indent}at {frame.prefix}{where}"
    return text + frame.trailing


def _frames(stack: str) -> list[tuple[int, Frame, str]]:
    """(line index, frame, normalized url) of the first `MAX_FRAMES` lookup-able frames."""
    found: list[tuple[int, Frame, str]] = []
    for i, line in enumerate(stack.split("\n", MAX_LINES)[:MAX_LINES]):
        if len(found) >= MAX_FRAMES:
            break
        if len(line) > MAX_LINE_LENGTH:
            continue
        frame = parse_frame(line)
        if frame is None or not frame.column or not frame.line:  # none, or 0: not 1-based
            continue
        url = normalize_url(frame.url)
        if url:
            found.append((i, frame, url))
    return found


def frame_urls(stack: str) -> list[str]:
    """The normalized URLs `rewrite` would look up, each once, in order of appearance."""
    return list(dict.fromkeys(url for _, _, url in _frames(stack)))


def rewrite(stack: str, lookup: Lookup) -> tuple[str, bool]:
    """`stack` with each frame `lookup` maps rewritten, and whether any was.

    `lookup(url, line, column)` gets the normalized URL, the 1-based line and the 0-based
    column (the printed column - 1). Lines that are not frames stay byte for byte.
    """
    lines = stack.split("\n")
    changed = False
    for i, frame, url in _frames(stack):
        assert frame.column is not None
        original = lookup(url, frame.line, frame.column - 1)
        if original is not None:
            lines[i] = format_frame(frame, original)
            changed = True
    return "\n".join(lines), changed
