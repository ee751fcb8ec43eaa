"""HTTP/1.1 with limits on what a client can hold: the request head and the clock.

uvicorn's httptools protocol buffers a request head of any size (8 sockets
sending 40 MiB of one header took a service to ~500 MB) and keeps a socket
open for ever while it sends nothing, or half a head, or half a body
(slowloris). This subclass adds three bounds and changes nothing else:

- the head (request line and headers) may be at most MAX_HEAD bytes, else
  431 and the connection closes;
- a head must arrive within HEAD_TIMEOUT seconds of its first byte (or of
  the connection opening);
- a body must keep arriving: BODY_IDLE_TIMEOUT seconds without a byte while
  it is incomplete closes the connection (the app sees a disconnect).

The hot path only stores a deadline (no timer per request); one sweep per
event loop closes what is overdue. Concurrent connections are bounded by
uvicorn's own `limit_concurrency` (503 past it; MAX_CONNECTIONS).
"""

from __future__ import annotations

import asyncio
import weakref

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD = 16 * 1024
HEAD_TIMEOUT = 10.0
BODY_IDLE_TIMEOUT = 30.0


class _Sweeper:
    """Closes the connections of one event loop whose deadline passed."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.watched: weakref.WeakSet[GuardedHttpToolsProtocol] = weakref.WeakSet()
        self.handle: asyncio.TimerHandle | None = None

    def watch(self, protocol: GuardedHttpToolsProtocol) -> None:
        self.watched.add(protocol)
        if self.handle is None:
            self._schedule()

    def _schedule(self) -> None:
        interval = max(0.05, min(HEAD_TIMEOUT, BODY_IDLE_TIMEOUT) / 4)
        self.handle = self.loop.call_later(interval, self._sweep)

    def _sweep(self) -> None:
        self.handle = None
        now = self.loop.time()
        for protocol in list(self.watched):
            deadline = protocol.deadline
            if deadline is not None and now > deadline:
                protocol.expire()
        if self.watched:
            self._schedule()


_sweepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Sweeper] = (
    weakref.WeakKeyDictionary()
)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded head and timeouts (see module)."""

    #: When this connection is closed unless it makes progress (loop time), or None.
    deadline: float | None = None
    _head_bytes = 0  # received while the head is incomplete
    _in_head = True
    _too_big = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.deadline = self.loop.time() + HEAD_TIMEOUT
        sweeper = _sweepers.get(self.loop)
        if sweeper is None:
            sweeper = _sweepers[self.loop] = _Sweeper(self.loop)
        sweeper.watch(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.deadline = None
        sweeper = _sweepers.get(self.loop)
        if sweeper is not None:
            sweeper.watched.discard(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
            if self.deadline is None:  # the first bytes of a head after a response
                self.deadline = self.loop.time() + HEAD_TIMEOUT
        else:  # a body still coming: it made progress
            self.deadline = self.loop.time() + BODY_IDLE_TIMEOUT
        super().data_received(data)
        if self._in_head and self._head_bytes > MAX_HEAD and not self.transport.is_closing():
            self._reject_head()  # still incomplete: all of it is head

    def on_headers_complete(self) -> None:
        if self._head_bytes > MAX_HEAD:  # arrived whole in one read, maybe with body bytes
            size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
            if size > MAX_HEAD:
                self._too_big = True
                raise ValueError("request head too large")  # parser stops: send_400_response
        self._in_head = False
        self._head_bytes = 0
        self.deadline = self.loop.time() + BODY_IDLE_TIMEOUT
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self.deadline = None  # the app has the whole request; uvicorn's keep-alive takes over
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._in_head = True
        self._head_bytes = 0

    def send_400_response(self, msg: str) -> None:
        if self._too_big:
            self._reject_head()
        else:
            super().send_400_response(msg)

    def expire(self) -> None:
        self.deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def _reject_head(self) -> None:
        self.deadline = None
        body = orjson.dumps({"detail": f"Request head exceeds {MAX_HEAD} bytes"})
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + body
        )
        self.transport.close()
