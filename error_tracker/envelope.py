"""Sentry envelopes: what every Sentry SDK sends, parsed without trusting it.

An envelope is a JSON header line, then items: each a JSON header line
(`{"type": "event", "length": 123}`) and its payload — `length` bytes when
the header says so, else up to the next newline. Bodies may be compressed.
A broken item is dropped and counted, never a 500 and never the loss of the
items before it; only an envelope whose own header is unreadable is refused.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from shared.responses import ApiError, BadRequest

#: Items one envelope may carry (SDKs send one event, or a handful of sessions).
MAX_ITEMS = 100


@dataclass(slots=True)
class Item:
    type: str
    headers: dict[str, Any]
    payload: bytes


@dataclass(slots=True)
class Envelope:
    headers: dict[str, Any]
    items: list[Item] = field(default_factory=list)
    #: Why items were dropped while parsing (one line each), for the counters.
    dropped: list[str] = field(default_factory=list)


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body as sent before `Content-Encoding`, at most `limit` bytes.

    gzip and deflate (zlib or raw) are read with a bound, so a small bomb is
    a 413 after `limit` bytes of output, not a full expansion in memory.
    """
    name = (encoding or "identity").strip().lower()
    if name in ("", "identity"):
        return body
    if name == "br":
        return _unbrotli(body, limit)
    if name == "gzip":
        wbits = 16 + zlib.MAX_WBITS
    elif name == "deflate":
        wbits = zlib.MAX_WBITS if body[:1] == b"\x78" else -zlib.MAX_WBITS
    else:
        raise ApiError(415, f"Content-Encoding {name!r} is not supported (use gzip, deflate or br)")
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BadRequest(f"Body is not valid {name}: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise ApiError(413, f"Decompressed body exceeds {limit} bytes")
    return out


def _unbrotli(body: bytes, limit: int) -> bytes:
    """Brotli (sentry-sdk's default when the brotli package is installed), bounded too.

    Imported on first use: a service that never sees brotli keeps its idle RSS.
    """
    import brotli  # type: ignore[import-untyped]  # no stubs published

    decompressor = brotli.Decompressor()
    try:
        out = decompressor.process(body, output_buffer_limit=limit + 1)
    except brotli.error as exc:
        raise BadRequest(f"Body is not valid br: {exc}") from None
    if len(out) > limit or not decompressor.can_accept_more_data():
        raise ApiError(413, f"Decompressed body exceeds {limit} bytes")
    if not decompressor.is_finished():
        raise BadRequest("Body is not valid br: it ends before the stream does")
    return bytes(out)


def _json_line(raw: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def parse_envelope(body: bytes) -> Envelope:
    """Header and items; BadRequest only when the envelope header is unreadable."""
    first, newline, rest = body.partition(b"\n")
    headers = _json_line(first)
    if headers is None:
        raise BadRequest("Envelope header must be a JSON object on the first line")
    envelope = Envelope(headers)
    position = 0 if newline else len(rest)
    while position < len(rest):
        if len(envelope.items) >= MAX_ITEMS:
            envelope.dropped.append(f"more than {MAX_ITEMS} items")
            break
        end = rest.find(b"\n", position)
        line = rest[position : len(rest) if end < 0 else end]
        position = len(rest) if end < 0 else end + 1
        if not line.strip():
            continue  # blank lines between items
        header = _json_line(line)
        if header is None or not isinstance(header.get("type"), str):
            # Without a readable header the next item's start is unknown.
            envelope.dropped.append("an item header that is not a JSON object with a type")
            break
        length = header.get("length")
        if length is not None:
            if not isinstance(length, int) or isinstance(length, bool) or length < 0:
                envelope.dropped.append(f"{header['type'][:40]} item with a bad length")
                break
            if position + length > len(rest):
                envelope.dropped.append(f"{header['type'][:40]} item cut short")
                break
            payload = rest[position : position + length]
            position += length
            if rest[position : position + 1] == b"\n":
                position += 1
        else:
            end = rest.find(b"\n", position)
            payload = rest[position : len(rest) if end < 0 else end]
            position = len(rest) if end < 0 else end + 1
        envelope.items.append(Item(header["type"], header, payload))
    return envelope


def item_json(item: Item) -> dict[str, Any] | None:
    """An item's payload as a JSON object, or None when it is not one."""
    return _json_line(item.payload)
