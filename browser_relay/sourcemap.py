"""Source map v3 decoding and lookup, answering like Mozilla's `source-map` (0.7.x).

An uploaded map is decoded once into flat typed arrays (`array('I')` generated columns,
sources, original lines and columns, names, plus one kind byte per segment and a line
index): 21 bytes a segment instead of a Python object each, so parsed maps can be kept
in a `MapCache` bounded by `SourceMap.nbytes`.

Decoding is one pass over the `mappings` string done mostly by C code: lines and segments
are split with `str.split`, each distinct segment text is decoded once (`map` over a dict
of segment -> deltas; only a miss runs the Base64 table lookup loop) and the running sums
are `itertools.accumulate`-d straight into the arrays, whose own range check (0 to
2**32 - 1) is the "negative or too large" check. Measured (CPU time, CPython 3.11, one
core) on a 4.2 MiB map, 3.7 MiB of `mappings` in 680k segments (esbuild minifying eight
copies of terser's sources): 0.25 s to parse (best of 7), ~15 MiB/s of `mappings`; 16 MB
held after, ~60 MB at the peak. A hostile map of that size whose segments are a third
distinct takes ~1.5 s.

Lookups match `SourceMapConsumer.originalPositionFor({line, column, bias:
GREATEST_LOWER_BOUND})` exactly, including its corners: segments are sorted like
Mozilla's wasm sorts them, and when several segments share the exact generated column the
one returned is the one its binary search lands on (`tests/browser_relay/fixtures/
sourcemaps/` holds Mozilla's answers, compared position by position in the tests).
`sources` are joined with `sourceRoot` the way its `util.computeSourceURL` does: a WHATWG
URL parse and serialisation, reimplemented below. Checked against it under Node 20 on the
fixtures' table and on 90k random (root, source) pairs: all equal but a few oddities of
Node's own parser (e.g. `webpack:///..`), where we follow the URL standard.

Corrupt maps raise `InvalidSourceMap` (a `ValueError` whose message can go into an HTTP
400) and nothing else: decoding is strict where Mozilla would fail, and also where it
would quietly misread (segments of 2, 3 or 6+ fields, non-ASCII in `mappings`, source
or name indexes out of range).
"""

from __future__ import annotations

import ipaddress
import re
import sys
import threading
import unicodedata
from abc import ABC, abstractmethod
from array import array
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from itertools import accumulate, compress, islice
from operator import itemgetter
from typing import Any, Generic, TypeVar

import orjson

__all__ = [
    "BasicSourceMap",
    "IndexedSourceMap",
    "InvalidSourceMap",
    "MapCache",
    "Original",
    "SourceMap",
    "decode_vlq",
    "parse_map",
    "source_url",
]

#: Indexed maps whose sections hold indexed maps, this deep at most.
MAX_SECTION_DEPTH = 8
#: Base64 digits one VLQ value may use (7 hold any u32 delta; more only pad with zeros).
MAX_VLQ_DIGITS = 13

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_DIGIT = {ch: i for i, ch in enumerate(_B64)}

# Segment kinds, one byte per segment.
_NO_SOURCE, _SOURCE, _NAMED = 0, 1, 2
_NAMED_MASK = bytes(1 if i == _NAMED else 0 for i in range(256))

_Deltas = tuple[int, int, int, int, int, int]  # kind, column, source, line, column, name
# Per segment: generated column, kind, source, original line (0-based), column, name.
_Columns = tuple["array[int]", bytearray, "array[int]", "array[int]", "array[int]", "array[int]"]
_kind, _gen, _src, _line, _col, _name = (itemgetter(i) for i in range(6))

if array("I").itemsize != 4:  # pragma: no cover - every platform CPython supports today
    raise ImportError("browser_relay.sourcemap needs a 4-byte array('I')")


class InvalidSourceMap(ValueError):
    """The upload is not a source map we can use; the message says why, for a 400."""


@dataclass(frozen=True, slots=True)
class Original:
    """Where a generated position came from: `line` 1-based, `column` 0-based."""

    source: str
    line: int
    column: int
    name: str | None


class SourceMap(ABC):
    """A parsed map. `lookup(line, column)`: generated line 1-based, column 0-based."""

    __slots__ = ()

    sources: tuple[str, ...]
    names: tuple[str, ...]

    @abstractmethod
    def lookup(self, line: int, column: int) -> Original | None:
        """The segment with the greatest generated column <= `column` on `line`, if it has
        a source (Mozilla's GREATEST_LOWER_BOUND); None when there is none."""

    @property
    @abstractmethod
    def nbytes(self) -> int:
        """Approximate memory held, for the cache's budget."""


def _strings_nbytes(values: Sequence[str]) -> int:
    return sys.getsizeof(values) + sum(sys.getsizeof(v) for v in values)


class BasicSourceMap(SourceMap):
    """A map with `mappings`: flat arrays sorted by generated position, a line index."""

    __slots__ = (
        "sources",
        "names",
        "_starts",
        "_cols",
        "_kinds",
        "_srcs",
        "_lines",
        "_ocols",
        "_names",
        "_nbytes",
    )

    def __init__(
        self,
        sources: tuple[str, ...],
        names: tuple[str, ...],
        starts: array[int],
        columns: _Columns,
    ) -> None:
        self.sources = sources
        self.names = names
        self._starts = starts  # segments of generated line i: [starts[i], starts[i + 1])
        self._cols, self._kinds, self._srcs, self._lines, self._ocols, self._names = columns
        arrays = (starts, self._cols, self._srcs, self._lines, self._ocols, self._names)
        self._nbytes = (
            200
            + sum(a.itemsize * len(a) for a in arrays)
            + len(self._kinds)
            + _strings_nbytes(sources)
            + _strings_nbytes(names)
        )

    def __len__(self) -> int:
        """Number of mapping segments."""
        return len(self._cols)

    @property
    def nbytes(self) -> int:
        return self._nbytes

    def lookup(self, line: int, column: int) -> Original | None:
        starts = self._starts
        if line < 1 or column < 0 or line >= len(starts):
            return None
        lo, hi = starts[line - 1], starts[line]
        if lo == hi:
            return None
        # Rust's `binary_search_by` (the one in source-map 0.7's wasm) over all segments,
        # ordered by (line, column): when several segments sit at `column`, the first
        # probe that hits one decides, so the whole array is searched, not just the line.
        cols = self._cols
        left, right = 0, len(cols)
        size = right
        while left < right:
            mid = left + size // 2
            if mid < lo:
                left = mid + 1
            elif mid >= hi:
                right = mid
            else:
                col = cols[mid]
                if col < column:
                    left = mid + 1
                elif col > column:
                    right = mid
                else:
                    found = mid
                    break
            size = right - left
        else:
            found = left - 1
            if found < lo:
                return None
        kind = self._kinds[found]
        if kind == _NO_SOURCE:
            return None
        return Original(
            self.sources[self._srcs[found]],
            self._lines[found] + 1,
            self._ocols[found],
            self.names[self._names[found]] if kind == _NAMED else None,
        )


class IndexedSourceMap(SourceMap):
    """A map with `sections`, each an offset into the generated file and a map."""

    __slots__ = ("sources", "names", "_offsets", "_maps", "_nbytes")

    def __init__(self, sections: Sequence[tuple[int, int, SourceMap]]) -> None:
        self._offsets = [(line, column) for line, column, _ in sections]  # 0-based
        self._maps = [m for _, _, m in sections]
        self.sources = tuple(s for m in self._maps for s in m.sources)
        self.names = tuple(n for m in self._maps for n in m.names)
        self._nbytes = 200 + 64 * len(self._maps) + sum(m.nbytes for m in self._maps)

    @property
    def nbytes(self) -> int:
        return self._nbytes

    def _section(self, line: int, column: int) -> int:
        """Mozilla's `binarySearch.search` (recursive, GREATEST_LOWER_BOUND) over the
        section offsets: the section an exact offset hit or the last one before."""
        offsets = self._offsets
        low, high = -1, len(offsets)
        if not high:
            return -1
        while True:
            mid = (high - low) // 2 + low
            off_line, off_col = offsets[mid]
            cmp = line - (off_line + 1) or column - off_col
            if cmp == 0:
                return mid
            if cmp > 0:
                if high - mid > 1:
                    low = mid
                    continue
                return mid
            if mid - low > 1:
                high = mid
                continue
            return low

    def lookup(self, line: int, column: int) -> Original | None:
        if line < 1 or column < 0:
            return None
        index = self._section(line, column)
        if index < 0:
            return None
        off_line, off_col = self._offsets[index]
        # The column offset applies only on the section's first line.
        return self._maps[index].lookup(
            line - off_line, column - (off_col if line == off_line + 1 else 0)
        )


# ---------------------------------------------------------------------------------------
# Parsing.


def parse_map(text: str | bytes) -> SourceMap:
    """Parse a v3 source map (basic or indexed); `InvalidSourceMap` says what is wrong.

    A byte-order mark and the XSSI guard the spec allows (a first line starting `)]}'`,
    which Mozilla strips too) are skipped.
    """
    data: str | bytes
    if isinstance(text, str):
        data = text.removeprefix("\ufeff")
        if data.startswith(")]}'") and "\n" in data:
            data = data[data.index("\n") + 1 :]
    elif isinstance(text, bytes | bytearray | memoryview):
        data = bytes(text).removeprefix(b"\xef\xbb\xbf")
        if data.startswith(b")]}'") and b"\n" in data:
            data = data[data.index(b"\n") + 1 :]
    else:
        raise InvalidSourceMap("a source map must be text")
    return _build(_load_json(data), 0)


def _load_json(data: str | bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidSourceMap(f"the source map is not valid JSON: {exc}") from None


def _build(obj: Any, depth: int) -> SourceMap:
    where = f" (in a section {depth} deep)" if depth else ""
    if not isinstance(obj, dict):
        raise InvalidSourceMap(f"a source map must be a JSON object{where}")
    version = obj.get("version")
    if isinstance(version, bool) or version not in (3, "3"):
        raise InvalidSourceMap(f"unsupported source map version {version!r}{where}: need 3")
    if obj.get("sections") is not None:
        return _build_indexed(obj["sections"], depth)
    sources = obj.get("sources")
    if not isinstance(sources, list):
        raise InvalidSourceMap(f'"sources" must be a list{where}')
    names = obj.get("names", [])
    if not isinstance(names, list):
        raise InvalidSourceMap(f'"names" must be a list{where}')
    root = obj.get("sourceRoot")
    if root is not None and not isinstance(root, str):
        raise InvalidSourceMap(f'"sourceRoot" must be a string{where}')
    mappings = obj.get("mappings")
    if not isinstance(mappings, str):
        raise InvalidSourceMap(f'"mappings" must be a string{where}')
    resolved = tuple(source_url(root, _js_string(s, "sources")) for s in sources)
    return _decode(mappings, resolved, tuple(_js_string(n, "names") for n in names))


def _build_indexed(sections: Any, depth: int) -> IndexedSourceMap:
    if depth >= MAX_SECTION_DEPTH:
        raise InvalidSourceMap(f"indexed maps nested more than {MAX_SECTION_DEPTH} deep")
    if not isinstance(sections, list):
        raise InvalidSourceMap('"sections" must be a list')
    built: list[tuple[int, int, SourceMap]] = []
    last = (-1, 0)
    for i, section in enumerate(sections):
        if not isinstance(section, dict):
            raise InvalidSourceMap(f"section {i} must be an object")
        if section.get("url"):
            raise InvalidSourceMap(
                f'section {i} refers to its map by "url", which is not supported: '
                'inline it as "map"'
            )
        offset = section.get("offset")
        if not isinstance(offset, dict) or not all(
            type(offset.get(k)) is int and offset[k] >= 0 for k in ("line", "column")
        ):
            raise InvalidSourceMap(
                f'section {i} needs an "offset" with non-negative integer "line" and "column"'
            )
        here = (offset["line"], offset["column"])
        if here < last:
            raise InvalidSourceMap(f"section {i}: offsets must be ordered and non-overlapping")
        last = here
        inner = section.get("map")
        if isinstance(inner, str):
            inner = _load_json(inner)
        if not isinstance(inner, dict):
            raise InvalidSourceMap(f'section {i} needs a "map" object')
        built.append((here[0], here[1], _build(inner, depth + 1)))
    return IndexedSourceMap(built)


def _js_string(value: Any, field: str) -> str:
    """JavaScript's `String(v)` for the values Mozilla's `.map(String)` meets in practice."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    raise InvalidSourceMap(f'"{field}" entries must be strings, not {type(value).__name__}')


# ---------------------------------------------------------------------------------------
# Base64 VLQ.


def decode_vlq(text: str) -> list[int]:
    """The signed integers a run of Base64 VLQ digits encodes (no separators)."""
    values: list[int] = []
    value = shift = 0
    digit_of = _DIGIT
    try:
        for ch in text:
            digit = digit_of[ch]  # KeyError: not a Base64 digit
            value |= (digit & 31) << shift
            if digit & 32:
                shift += 5
                if shift >= 5 * MAX_VLQ_DIGITS:
                    raise InvalidSourceMap("a value in mappings is too large")
            else:
                values.append(-(value >> 1) if value & 1 else value >> 1)
                value = shift = 0
    except KeyError as exc:
        raise InvalidSourceMap(f"invalid character {exc.args[0]!r} in mappings") from None
    if shift:
        raise InvalidSourceMap(f"mappings end in the middle of a value ({text[:40]!r})")
    return values


def _decode_segment(segment: str) -> _Deltas:
    v = decode_vlq(segment)
    if len(v) == 1:
        return (_NO_SOURCE, v[0], 0, 0, 0, 0)
    if len(v) == 4:
        return (_SOURCE, v[0], v[1], v[2], v[3], 0)
    if len(v) == 5:
        return (_NAMED, v[0], v[1], v[2], v[3], v[4])
    raise InvalidSourceMap(
        f"mapping segment {segment[:40]!r} has {len(v)} fields; a segment has 1, 4 or 5"
    )


class _SegmentCache(dict[str, _Deltas]):
    """Segment text -> deltas; `map(cache.__getitem__, ...)` decodes each distinct one once.

    `backwards` collects the texts whose generated column delta is <= 0: a line where one
    follows another segment has columns out of order (or repeated) and needs sorting.
    """

    def __init__(self) -> None:
        super().__init__()
        self.backwards: set[str] = set()

    def __missing__(self, segment: str) -> _Deltas:
        deltas = self[segment] = _decode_segment(segment)
        if deltas[1] <= 0:
            self.backwards.add(segment)
        return deltas


def _decode(mappings: str, sources: tuple[str, ...], names: tuple[str, ...]) -> BasicSourceMap:
    segments = _SegmentCache()
    get = segments.__getitem__
    backwards = segments.backwards
    rows: list[_Deltas] = []
    starts = array("I", [0])
    cols = array("I")
    unordered: list[int] = []
    try:
        for line in mappings.split(";"):
            if line:
                texts = line.split(",")
                if "" in texts:
                    texts = [t for t in texts if t]
                decoded = list(map(get, texts))
                if backwards and not backwards.isdisjoint(islice(texts, 1, None)):
                    unordered.append(len(starts) - 1)
                rows += decoded
                # Generated columns restart on each line; the other fields run on.
                cols.extend(accumulate(map(_gen, decoded)))
            starts.append(len(rows))
        kinds = bytearray(map(_kind, rows))
        srcs = array("I", accumulate(map(_src, rows)))
        lines = array("I", accumulate(map(_line, rows)))
        ocols = array("I", accumulate(map(_col, rows)))
        name_ids = array("I", accumulate(map(_name, rows)))
    except OverflowError:
        raise InvalidSourceMap(
            "mappings contain a negative or too large (over 2**32 - 1) position or index"
        ) from None
    del rows, segments
    # Segments without a source (or name) carry the running value on, so the plain
    # maximum is exact unless it is the initial 0 of a map with no sources (names).
    if srcs and max(srcs) >= len(sources):
        top = max(compress(srcs, kinds), default=-1)
        if top >= len(sources):
            raise InvalidSourceMap(f"mappings use source {top}; the map has {len(sources)}")
    if name_ids and max(name_ids) >= len(names):
        top = max(compress(name_ids, kinds.translate(_NAMED_MASK)), default=-1)
        if top >= len(names):
            raise InvalidSourceMap(f"mappings use name {top}; the map has {len(names)}")
    columns = (cols, kinds, srcs, lines, ocols, name_ids)
    _sort_lines(starts, columns, unordered)
    return BasicSourceMap(sources, names, starts, columns)


def _sort_lines(starts: array[int], columns: _Columns, unordered: list[int]) -> None:
    """Order the segments of each `unordered` line as Mozilla does: by generated column,
    then those with a source (by source, line, column, name; unnamed first) before those
    without. Real maps rarely have any such line."""
    cols, kinds, srcs, lines, ocols, name_ids = columns
    for line in unordered:
        lo, hi = starts[line], starts[line + 1]

        def key(i: int) -> tuple[int, ...]:
            kind = kinds[i]
            if kind == _NO_SOURCE:
                return (cols[i], 1)
            return (cols[i], 0, srcs[i], lines[i], ocols[i], name_ids[i] if kind == _NAMED else -1)

        order = sorted(range(lo, hi), key=key)
        for seq in (cols, srcs, lines, ocols, name_ids):
            seq[lo:hi] = array("I", [seq[i] for i in order])
        kinds[lo:hi] = bytes(kinds[i] for i in order)


# ---------------------------------------------------------------------------------------
# sourceRoot + sources, as Mozilla's util.computeSourceURL (with no map URL) joins them.


def source_url(source_root: str | None, source: str) -> str:
    """The source name Mozilla reports for `source` under `source_root`.

    Where Mozilla would throw (a URL the WHATWG parser rejects, e.g. a bad host), the
    plain concatenation is used instead, so such a map still loads.
    """
    try:
        return _compute_source_url(source_root, source)
    except ValueError:  # _UrlError, or anything the parser let through
        if not source_root:
            return source
        return source_root + ("" if source_root.endswith("/") else "/") + source


def _compute_source_url(root: str | None, source: str) -> str:
    if root and _url_type(source) == "path-absolute":
        source = source[1:]
    url = _normalize(source)
    if root:
        url = _join(root, url)
    return url


_ABSOLUTE_SCHEME = re.compile(r"[A-Za-z0-9+\-.]+:")
_SAFE_HOST = "http://host"


def _url_type(url: str) -> str:
    if url.startswith("//"):
        return "scheme-relative"
    if url.startswith("/"):
        return "path-absolute"
    return "absolute" if _ABSOLUTE_SCHEME.match(url) else "path-relative"


def _safe_base(text: str) -> str:
    """`http://host/` plus one unique directory per `..` in `text` (Mozilla's buildSafeBase)."""
    i = 0
    while f"p{i}" in text:
        i += 1
    return f"{_SAFE_HOST}/" + f"p{i}/" * text.count("..")


def _relative(root: _Url, target: _Url) -> str:
    target_parts = target.pathname.split("/")
    root_parts = root.pathname.split("/")
    if root_parts and not root_parts[-1]:
        root_parts.pop()
    common = 0
    while (
        common < len(target_parts)
        and common < len(root_parts)
        and target_parts[common] == root_parts[common]
    ):
        common += 1
    parts = [".."] * (len(root_parts) - common) + target_parts[common:]
    return "/".join(parts) + target.search + target.hash


def _safe_handler(text: str, directory: bool) -> str:
    """Mozilla's `normalize` (or `ensureDirectory`): parse against a safe base, serialise,
    and cut back to the kind of URL `text` was."""
    kind = _url_type(text)
    base = _parse_url(_safe_base(text))
    url = _parse_url(text, base)
    if directory and url.opaque is None and (not url.path or url.path[-1] != ""):
        url.path.append("")
    result = url.href
    if kind == "absolute":
        return result
    if kind == "scheme-relative":
        return result[len("http:") :]
    if kind == "path-absolute":
        return result[len(_SAFE_HOST) :]
    return _relative(base, _parse_url(result))


def _normalize(text: str) -> str:
    return _safe_handler(text, directory=False)


def _with_base(text: str, base: str | None) -> str:
    return _parse_url(text, None if base is None else _parse_url(base)).href


def _join(root: str, path: str) -> str:
    path_type, root_type = _url_type(path), _url_type(root)
    root = _safe_handler(root, directory=True)
    if path_type == "absolute":
        return _with_base(path, None)
    if root_type == "absolute":
        return _with_base(path, root)
    if path_type == "scheme-relative":
        return _normalize(path)
    if root_type == "scheme-relative":
        return _with_base(path, _with_base(root, _SAFE_HOST))[len("http:") :]
    if path_type == "path-absolute":
        return _normalize(path)
    if root_type == "path-absolute":
        return _with_base(path, _with_base(root, _SAFE_HOST))[len(_SAFE_HOST) :]
    base = _safe_base(path + root)
    joined = _with_base(path, _with_base(root, base))
    return _relative(_parse_url(base), _parse_url(joined))


# A WHATWG URL parser, for what `new URL(input, base)` does to source paths: schemes,
# hosts (ASCII, IPv4, IPv6, IDNA roughly), ports, dot segments, backslashes,
# percent-encoding. Not covered: `file:` host quirks beyond drive letters, full UTS 46.


class _UrlError(ValueError):
    """`new URL()` would throw."""


_SPECIAL = {"ftp": 21, "file": None, "http": 80, "https": 443, "ws": 80, "wss": 443}
_C0 = frozenset(chr(c) for c in range(0x20))
_FRAGMENT_SET = _C0 | set(' "<>`')
_QUERY_SET = _C0 | set(' "#<>')
_SPECIAL_QUERY_SET = _QUERY_SET | {"'"}
_PATH_SET = _QUERY_SET | set("?`{}")
_USERINFO_SET = _PATH_SET | set("/:;=@[\\]^|")
_FORBIDDEN_HOST = set("\0\t\n\r #/:<>?@[\\]^|")
_FORBIDDEN_DOMAIN = _FORBIDDEN_HOST | _C0 | {"%", "\x7f"}
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*:")
_DRIVE = re.compile(r"[A-Za-z][:|]")


def _encode(text: str, unsafe: frozenset[str] | set[str]) -> str:
    if text.isascii() and not any(ch in unsafe or ch == "\x7f" for ch in text):
        return text
    out = []
    for ch in text:
        if ch in unsafe or ord(ch) > 0x7E:
            out.append("".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass")))
        else:
            out.append(ch)
    return "".join(out)


class _Url:
    __slots__ = (
        "scheme",
        "username",
        "password",
        "host",
        "port",
        "path",
        "opaque",
        "query",
        "fragment",
    )

    def __init__(self, scheme: str) -> None:
        self.scheme = scheme
        self.username = ""
        self.password = ""
        self.host: str | None = None
        self.port: int | None = None
        self.path: list[str] = []
        self.opaque: str | None = None
        self.query: str | None = None
        self.fragment: str | None = None

    @property
    def special(self) -> bool:
        return self.scheme in _SPECIAL

    @property
    def pathname(self) -> str:
        if self.opaque is not None:
            return self.opaque
        return "".join("/" + segment for segment in self.path)

    @property
    def search(self) -> str:
        return f"?{self.query}" if self.query else ""

    @property
    def hash(self) -> str:
        return f"#{self.fragment}" if self.fragment else ""

    @property
    def href(self) -> str:
        out = self.scheme + ":"
        if self.host is not None:
            out += "//"
            if self.username or self.password:
                out += self.username + (":" + self.password if self.password else "") + "@"
            out += self.host
            if self.port is not None:
                out += f":{self.port}"
        elif self.opaque is None and len(self.path) > 1 and self.path[0] == "":
            out += "/."
        out += self.pathname
        if self.query is not None:
            out += "?" + self.query
        if self.fragment is not None:
            out += "#" + self.fragment
        return out

    def copy_authority(self, base: _Url) -> None:
        self.username, self.password = base.username, base.password
        self.host, self.port = base.host, base.port


def _parse_url(text: str, base: _Url | None = None) -> _Url:
    text = text.strip("".join(_C0) + " ").replace("\t", "").replace("\n", "").replace("\r", "")
    m = _SCHEME.match(text)
    if m:
        url = _Url(m.group()[:-1].lower())
        rest = text[m.end() :]
        if url.scheme == "file":
            return _parse_file(url, rest, base if base and base.scheme == "file" else None)
        if url.special:
            if base is not None and base.scheme == url.scheme and not rest.startswith("//"):
                # `http:foo` (or `http:/foo`) against an http: base is relative to it.
                return _parse_relative(url, rest, base)
            return _parse_authority(url, rest.lstrip("/\\"))
        if rest.startswith("//"):
            return _parse_authority(url, rest[2:])
        if rest.startswith("/"):
            return _parse_rest(url, rest)
        opaque, query, fragment = _split_tail(rest)
        url.opaque = _encode(opaque, _C0)
        _set_tail(url, query, fragment)
        return url
    if base is None:
        raise _UrlError(f"relative URL without a base: {text!r}")
    if base.opaque is not None:
        if not text.startswith("#"):
            raise _UrlError("relative URL against an opaque base")
        url = _copy(base)
        url.fragment = _encode(text[1:], _FRAGMENT_SET)
        return url
    if base.scheme == "file":
        return _parse_file(_Url("file"), text, base)
    return _parse_relative(_Url(base.scheme), text, base)


def _copy(base: _Url) -> _Url:
    url = _Url(base.scheme)
    url.copy_authority(base)
    url.path, url.opaque, url.query = list(base.path), base.opaque, base.query
    return url


def _split_tail(text: str) -> tuple[str, str | None, str | None]:
    text, hash_sign, fragment = text.partition("#")
    text, question, query = text.partition("?")
    return text, query if question else None, fragment if hash_sign else None


def _set_tail(url: _Url, query: str | None, fragment: str | None) -> None:
    if query is not None:
        url.query = _encode(query, _SPECIAL_QUERY_SET if url.special else _QUERY_SET)
    if fragment is not None:
        url.fragment = _encode(fragment, _FRAGMENT_SET)


def _parse_relative(url: _Url, rest: str, base: _Url) -> _Url:
    slashes = "/\\" if url.special else "/"
    if rest[:1] and rest[0] in slashes:
        if rest[1:2] and rest[1] in slashes:
            return _parse_authority(url, rest.lstrip(slashes) if url.special else rest[2:])
        url.copy_authority(base)
        return _parse_rest(url, rest)
    url.copy_authority(base)
    url.path = list(base.path)
    if not rest:
        url.query = base.query or None  # an empty one is dropped, as Node's URL does
        return url
    if rest[0] == "?" or rest[0] == "#":
        url.query = base.query or None  # an empty one is dropped, as Node's URL does
        path, query, fragment = _split_tail(rest)
        _set_tail(url, query, fragment)
        return url
    if url.path:
        url.path.pop()
    path, query, fragment = _split_tail(rest)
    _parse_segments(url, path)
    _set_tail(url, query, fragment)
    return url


def _parse_authority(url: _Url, rest: str) -> _Url:
    stop = len(rest)
    for ch in "/?#\\" if url.special else "/?#":
        i = rest.find(ch)
        if 0 <= i < stop:
            stop = i
    authority, rest = rest[:stop], rest[stop:]
    credentials = "@" in authority
    if credentials:
        userinfo, _, authority = authority.rpartition("@")
        user, _, password = userinfo.partition(":")
        url.username = _encode(user, _USERINFO_SET)
        url.password = _encode(password, _USERINFO_SET)
    host, port = authority, None
    colon = authority.rfind(":")
    if colon >= 0 and "]" not in authority[colon:]:
        host, port = authority[:colon], authority[colon + 1 :]
    if not host and (credentials or port is not None):
        raise _UrlError("credentials or a port without a host")
    if port:
        if not (port.isascii() and port.isdigit()) or len(port) > 5 or int(port) > 65535:
            raise _UrlError(f"bad port {port[:10]!r}")
        url.port = None if _SPECIAL.get(url.scheme) == int(port) else int(port)
    if not host and url.special:
        raise _UrlError("empty host")
    url.host = _parse_host(host, url.special)
    return _parse_rest(url, rest)


def _parse_rest(url: _Url, rest: str) -> _Url:
    """Path start state onwards: `rest` is what follows the host (or `scheme:`)."""
    path, query, fragment = _split_tail(rest)
    if url.special:
        if path[:1] in ("/", "\\"):
            path = path[1:]
        _parse_segments(url, path)
    elif path:
        _parse_segments(url, path[1:] if path[0] == "/" else path)
    _set_tail(url, query, fragment)
    return url


def _is_drive(text: str, normalized: bool = False) -> bool:
    return len(text) == 2 and bool(_DRIVE.match(text)) and (not normalized or text[1] == ":")


def _parse_segments(url: _Url, path: str) -> None:
    parts = re.split(r"[/\\]", path) if url.special else path.split("/")
    last = len(parts) - 1
    for i, part in enumerate(parts):
        segment = _encode(part, _PATH_SET)
        lowered = segment.lower()
        if lowered in ("..", ".%2e", "%2e.", "%2e%2e"):
            if url.path and not (
                url.scheme == "file" and len(url.path) == 1 and _is_drive(url.path[0], True)
            ):
                url.path.pop()
            if i == last:
                url.path.append("")
        elif lowered in (".", "%2e"):
            if i == last:
                url.path.append("")
        else:
            if url.scheme == "file" and not url.path and _is_drive(segment):
                segment = segment[0] + ":"
            url.path.append(segment)


def _parse_file(url: _Url, rest: str, base: _Url | None) -> _Url:
    url.host = ""
    if rest[:1] in ("/", "\\"):
        if rest[1:2] in ("/", "\\"):
            rest = rest[2:]
            stop = len(rest)
            for ch in "/\\?#":
                i = rest.find(ch)
                if 0 <= i < stop:
                    stop = i
            host = rest[:stop]
            if _is_drive(host):
                return _parse_rest(url, rest)
            if host:
                parsed = _parse_host(host, True)
                url.host = "" if parsed == "localhost" else parsed
            return _parse_rest(url, rest[stop:])
        if base is not None:
            url.host = base.host
            if not _DRIVE.match(rest[1:3]) and base.path and _is_drive(base.path[0], True):
                url.path.append(base.path[0])
        return _parse_rest(url, rest)
    if base is not None:
        url.host = base.host
        url.path = list(base.path)
        if not rest:
            url.query = base.query or None  # an empty one is dropped, as Node's URL does
            return url
        if rest[0] in "?#":
            url.query = base.query or None  # an empty one is dropped, as Node's URL does
            _, query, fragment = _split_tail(rest)
            _set_tail(url, query, fragment)
            return url
        if not (_DRIVE.match(rest[:2]) and (len(rest) == 2 or rest[2] in "/\\?#")):
            if url.path and not (len(url.path) == 1 and _is_drive(url.path[0], True)):
                url.path.pop()
        else:
            url.path = []
    path, query, fragment = _split_tail(rest)
    _parse_segments(url, path)
    _set_tail(url, query, fragment)
    return url


def _parse_host(host: str, special: bool) -> str:
    if host.startswith("["):
        if not host.endswith("]"):
            raise _UrlError("unterminated IPv6 host")
        try:
            return f"[{ipaddress.IPv6Address(host[1:-1]).compressed}]"
        except ValueError:
            raise _UrlError("bad IPv6 host") from None
    if not special:
        if any(ch in _FORBIDDEN_HOST for ch in host):
            raise _UrlError("forbidden host code point")
        return _encode(host, _C0)
    domain = _percent_decode(host)
    if "\ufffd" in domain:  # bytes that are not UTF-8; UTS 46 disallows U+FFFD anyway
        raise _UrlError("bad domain")
    if not domain.isascii():
        domain = _domain_to_ascii(domain)
    domain = domain.lower()
    if not domain or any(ch in _FORBIDDEN_DOMAIN for ch in domain):
        raise _UrlError("forbidden domain code point")
    return _ipv4(domain)


def _domain_to_ascii(domain: str) -> str:
    """UTS 46 ToASCII, roughly: NFKC, lower case (keeping ß: non-transitional), IDNA dots,
    Punycode for each non-ASCII label."""
    domain = unicodedata.normalize("NFKC", domain).lower()
    for dot in "\u3002\uff0e\uff61":
        domain = domain.replace(dot, ".")
    try:
        return ".".join(
            label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")
            for label in domain.split(".")
        )
    except UnicodeError:
        raise _UrlError("bad international domain") from None


def _percent_decode(text: str) -> str:
    if "%" not in text:
        return text
    data = bytearray()
    raw = text.encode("utf-8", "surrogatepass")
    i = 0
    while i < len(raw):
        if raw[i] == 0x25 and re.fullmatch(rb"[0-9A-Fa-f]{2}", raw[i + 1 : i + 3]):
            data.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            data.append(raw[i])
            i += 1
    return data.decode("utf-8", "replace")


def _ipv4_number(part: str) -> int | None:
    base = 10
    if part[:2] in ("0x", "0X"):
        part, base = part[2:], 16
    elif len(part) > 1 and part[0] == "0":
        part, base = part[1:], 8
    if not part:
        return 0
    digits = {10: "0123456789", 16: "0123456789abcdefABCDEF", 8: "01234567"}[base]
    if not all(ch in digits for ch in part):
        return None
    return int(part, base) if len(part) <= 32 else 2**128  # too large either way


def _ipv4(domain: str) -> str:
    """An ending-in-a-number host as dotted decimal; any other domain as it is."""
    parts = domain.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    last = parts[-1]
    if not (last.isdigit() or (last[:2] in ("0x", "0X") and _ipv4_number(last) is not None)):
        return domain
    numbers = [_ipv4_number(p) if p else None for p in parts]
    if len(parts) > 4 or any(n is None for n in numbers):
        raise _UrlError("bad IPv4 host")
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        raise _UrlError("bad IPv4 host")
    address = values[-1] + sum(n << (8 * (3 - i)) for i, n in enumerate(values[:-1]))
    return ".".join(str((address >> shift) & 255) for shift in (24, 16, 8, 0))


# ---------------------------------------------------------------------------------------
# Cache.


K = TypeVar("K", bound=Hashable)


class MapCache(Generic[K]):
    """Parsed maps by key, least recently used evicted first, within `max_bytes` in total.

    A lock makes it safe to share with a parsing thread; the relay's single event loop
    needs none. A map larger than the whole budget is not cached.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._maps: OrderedDict[K, SourceMap] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def total_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._maps)

    def __contains__(self, key: object) -> bool:
        return key in self._maps

    def get(self, key: K) -> SourceMap | None:
        with self._lock:
            found = self._maps.get(key)
            if found is not None:
                self._maps.move_to_end(key)
            return found

    def put(self, key: K, source_map: SourceMap) -> bool:
        """Cache `source_map` under `key` (replacing any); False if it is too big to keep."""
        size = source_map.nbytes
        with self._lock:
            self._pop(key)
            if size > self.max_bytes:
                return False
            self._maps[key] = source_map
            self._bytes += size
            while self._bytes > self.max_bytes:
                self._bytes -= self._maps.popitem(last=False)[1].nbytes
            return True

    def discard(self, key: K) -> None:
        """Forget `key` (its map was replaced or deleted)."""
        with self._lock:
            self._pop(key)

    def clear(self) -> None:
        with self._lock:
            self._maps.clear()
            self._bytes = 0

    def _pop(self, key: K) -> None:
        old = self._maps.pop(key, None)
        if old is not None:
            self._bytes -= old.nbytes
