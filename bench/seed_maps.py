"""A source map the size of a real bundle's, and a browser error whose stack it maps: R1's input.

`big_map(size)` writes a valid v3 map of about `size` bytes (a minified
bundle of many modules: long generated lines, segments every few columns
with sources and names), seeded so every run maps the same frames;
`browser_error(url, frames)` is the report with a V8 stack of frames in it.
"""

from __future__ import annotations

import random
from typing import Any

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def vlq(value: int) -> str:
    """One Base64 VLQ number, as source maps write them."""
    n = (-value << 1) | 1 if value < 0 else value << 1
    out = ""
    while True:
        digit = n & 31
        n >>= 5
        out += _B64[digit | (32 if n else 0)]
        if not n:
            return out


def big_map(size: int, seed: int = 7) -> tuple[dict[str, Any], list[tuple[int, int]]]:
    """(the map, generated (line, column) positions that have a segment)."""
    rnd = random.Random(seed)
    sources = [f"webpack:///src/module{i:03d}.ts" for i in range(200)]
    names = [f"fn{i}" for i in range(2_000)]
    lines: list[str] = []
    positions: list[tuple[int, int]] = []
    length = 0
    prev = [0, 0, 0, 0]  # source, line, column, name: relative across the whole map
    while length < size:
        column = 0
        segments = []
        for _ in range(400):
            column_step = rnd.randint(3, 40)
            column += column_step
            fields = [rnd.randrange(len(sources)), rnd.randint(1, 3000), rnd.randint(0, 120)]
            name = rnd.randrange(len(names))
            segment = vlq(column_step if segments else column) + "".join(
                vlq(v - p) for v, p in zip(fields, prev[:3], strict=True)
            )
            segment += vlq(name - prev[3])
            prev = [*fields, name]
            segments.append(segment)
            if rnd.random() < 0.01:
                positions.append((len(lines) + 1, column + 1))
        line = ",".join(segments)
        lines.append(line)
        length += len(line) + 1
    mapping = {
        "version": 3,
        "file": "app.min.js",
        "sources": sources,
        "names": names,
        "mappings": ";".join(lines),
    }
    return mapping, positions


def browser_error(url: str, frames: list[tuple[int, int]], release: str) -> dict[str, Any]:
    stack = "TypeError: Cannot read properties of undefined (reading 'price')\n" + "\n".join(
        f"    at {name} ({url}:{line}:{column})"
        for name, (line, column) in zip("abcdefghij", frames, strict=False)
    )
    return {
        "type": "TypeError",
        "message": "Cannot read properties of undefined (reading 'price')",
        "stack": stack,
        "url": "https://shop.example.com/cart",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0",
        "session_id": "7f3c9a52-1b9e-4c1a-9d55-2f0e6f4b8a10",
        "release": release,
        "context": {"user_id": "u-1042"},
    }
