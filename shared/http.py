"""HTTP/1.1 with limits on what a client can hold: the request head and the clock.

uvicorn's httptools protocol buffers a request head of any size (8 sockets
sending 40 MiB of one header took a service to ~500 MB) and keeps a socket
open for ever while it sends nothing, or half a head, or half a body
(slowloris). This subclass adds three bounds and changes nothing else:

- the head (request line and headers) may be at most MAX_HEAD bytes, else
  431 and the connection closes;
- a head must arrive within HEAD_TIMEOUT seconds of the connection opening
  (or of the previous request ending);
- a body must keep arriving: BODY_IDLE_TIMEOUT seconds without a byte while
  it is incomplete closes the connection (the app sees a disconnect).

Concurrent connections are bounded by uvicorn's own `limit_concurrency`
(503 past it; MAX_CONNECTIONS).
"""

from __future__ import annotations

import asyncio

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD = 16 * 1024
HEAD_TIMEOUT = 10.0
BODY_IDLE_TIMEOUT = 30.0


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded head and timeouts (see module)."""

    _head_bytes = 0  # received while the head is incomplete
    _head_size = 0  # of the URL and headers parsed so far
    _in_head = True
    _too_big = False
    _timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(HEAD_TIMEOUT)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
            if self._timer is None:  # the first bytes of a head after a response
                self._arm(HEAD_TIMEOUT)
        else:
            self._arm(BODY_IDLE_TIMEOUT)  # a body still coming: it made progress
        super().data_received(data)
        if self._in_head and self._head_bytes > MAX_HEAD and not self.transport.is_closing():
            self._reject_head()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count(self, size: int) -> None:
        """A head that arrived whole in one read is measured as it is parsed."""
        self._head_size += size
        if self._head_size > MAX_HEAD:
            self._too_big = True
            raise ValueError("request head too large")  # the parser stops: send_400_response

    def send_400_response(self, msg: str) -> None:
        if self._too_big:
            self._reject_head()
        else:
            super().send_400_response(msg)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._head_size = 0
        self._arm(BODY_IDLE_TIMEOUT)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()  # the app has the whole request; uvicorn's keep-alive timer takes over
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._in_head = True
        self._head_bytes = 0
        self._head_size = 0

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _reject_head(self) -> None:
        body = orjson.dumps({"detail": f"Request head exceeds {MAX_HEAD} bytes"})
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + body
        )
        self.transport.close()
