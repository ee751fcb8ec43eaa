"""A lean keep-alive HTTP/1.1 transport for httpx: how the relay reaches its upstreams.

httpx's own pool (httpcore over anyio) cost ~1 ms of CPU per forwarded
request here, and ~2.5 ms with 32 in flight (measured against a bare
asyncio server on loopback: `docs/benchmarks.md`, R1) — more than all the
rest of the relay's work, which put R1 at ~250 req/s. The client layer of
httpx is ~120 µs; this transport under it is ~25 µs: idle connections on a
list, the request written in one `write`, the answer read by its
Content-Length (or chunked). It speaks to our own services on a private
network, so it does plain HTTP only (the client mounts it for http://;
https:// upstreams keep httpx's own transport).

Failures map onto httpx's exceptions (ConnectError, ReadTimeout,
RemoteProtocolError...), so callers handle one family. A reused
connection the upstream closed while idle (uvicorn closes after 5 s) is
retried once on a fresh one, but only when not a byte of the answer came:
the upstream never saw that request.
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx

#: Idle connections kept per upstream (more in flight are opened, then closed).
MAX_IDLE = 32
MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class _Stale(Exception):
    """A reused connection was closed by the upstream before answering."""


class LeanTransport(httpx.AsyncBaseTransport):
    def __init__(self, max_idle: int = MAX_IDLE) -> None:
        self.max_idle = max_idle
        self._idle: dict[tuple[str, int], list[Connection]] = {}
        self.opened = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"{url.scheme}:// is not supported here")
        where = (url.host, url.port or 80)
        timeouts = request.extensions.get("timeout", {})
        body = await request.aread()
        head = [f"{request.method} {url.raw_path.decode('ascii')} HTTP/1.1".encode()]
        names = set()
        for name, value in request.headers.raw:
            names.add(name.lower())
            head.append(name + b": " + value)
        if b"content-length" not in names and (body or request.method in ("POST", "PUT")):
            head.append(b"Content-Length: " + str(len(body)).encode())
        raw = b"\r\n".join(head) + b"\r\n\r\n" + body
        try:
            async with asyncio.timeout(timeouts.get("read") or None):
                idle = self._idle.get(where)
                if idle:
                    try:
                        return await self._exchange(idle.pop(), raw, where, request)
                    except _Stale:
                        pass  # closed while idle: the upstream never saw the request
                try:
                    return await self._exchange(await self._connect(where), raw, where, request)
                except _Stale:
                    raise httpx.RemoteProtocolError(
                        "the upstream closed the connection without answering"
                    ) from None
        except TimeoutError:
            raise httpx.ReadTimeout("no answer in time", request=request) from None

    async def _connect(self, where: tuple[str, int]) -> Connection:
        try:
            conn = await asyncio.open_connection(*where, limit=MAX_HEAD)
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from None
        self.opened += 1
        return conn

    async def _exchange(
        self, conn: Connection, raw: bytes, where: tuple[str, int], request: httpx.Request
    ) -> httpx.Response:
        reader, writer = conn
        fresh_failure = True
        try:
            writer.write(raw)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if not exc.partial:
                    raise _Stale from None
                raise
            fresh_failure = False
            status, headers, length, chunked, close = _parse_head(head)
            if chunked:
                content = await _read_chunked(reader)
            elif length is not None:
                if length > MAX_BODY:
                    raise httpx.RemoteProtocolError("upstream answer too large")
                content = await reader.readexactly(length)
            else:
                content = await reader.read(MAX_BODY)
                close = True
        except _Stale:
            _close(writer)
            raise
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            _close(writer)
            if fresh_failure and isinstance(exc, ConnectionError):
                raise _Stale from None
            raise httpx.RemoteProtocolError(
                f"upstream connection failed: {type(exc).__name__}"
            ) from None
        except BaseException:  # cancelled or timed out mid-answer: the connection is unusable
            _close(writer)
            raise
        if close:
            _close(writer)
        else:
            idle = self._idle.setdefault(where, [])
            if len(idle) < self.max_idle:
                idle.append(conn)
            else:
                _close(writer)
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for _, writer in idle:
                _close(writer)
        self._idle.clear()


def _parse_head(head: bytes) -> tuple[int, list[tuple[bytes, bytes]], int | None, bool, bool]:
    lines = head[:-4].split(b"\r\n")
    status_line = lines[0].split(b" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/1."):
        raise ValueError("not an HTTP/1.x answer")
    status = int(status_line[1])
    headers = []
    length = None
    chunked = False
    close = status_line[0] == b"HTTP/1.0"
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise ValueError("malformed header line")
        value = value.strip()
        lower = name.strip().lower()
        headers.append((lower, value))
        if lower == b"content-length":
            length = int(value)
        elif lower == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif lower == b"connection":
            close = value.lower() == b"close"
    return status, headers, length, chunked, close


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers
            return b"".join(parts)
        total += size
        if total > MAX_BODY:
            raise ValueError("chunked answer too large")
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.close()
