"""A lean keep-alive HTTP/1.1 client: how the relay reaches the tracker and collector.

httpx was measured here first (`docs/benchmarks.md`, R1): its pool
(httpcore over anyio) cost ~1 ms of CPU per forwarded request, ~2.5 ms with
32 in flight — R1 ran at ~250 req/s — and with our transport under its
client layer it still cost ~120 µs a request and 2.3 MB of the relay's
idle RSS (over the 40 MB bar). This is what the relay needs and no more:
POST a body, read the answer. Idle connections wait on a list per
upstream; the request goes out in one `write`; the answer is read by its
Content-Length (or chunked): ~25 µs a request.

One deadline covers connecting, sending and the whole answer. A reused
connection that the upstream closed while idle (uvicorn closes after 5 s)
is retried once on a fresh one — only when not a byte of the answer came,
so the upstream never saw that request. https:// upstreams work too (the
system's CAs).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

#: Idle connections kept per upstream (more in flight are opened, then closed).
MAX_IDLE = 32
MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class UpstreamError(Exception):
    """The upstream could not be reached or gave no usable answer."""


class UpstreamTimeout(UpstreamError):
    pass


class _Stale(Exception):
    """A connection closed by the upstream before a byte of the answer came."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where a URL's requests go: scheme, host and port, and the request path."""

    secure: bool
    host: str
    port: int
    path: bytes

    @classmethod
    def of(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url}")
        secure = parts.scheme == "https"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(secure, parts.hostname, parts.port or (443 if secure else 80), path.encode())

    @property
    def host_header(self) -> bytes:
        default = 443 if self.secure else 80
        return (self.host if self.port == default else f"{self.host}:{self.port}").encode()


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]  # names lower-cased
    body: bytes

    def header(self, name: bytes, default: bytes = b"") -> bytes:
        return next((v for n, v in self.headers if n == name), default)


class Pool:
    """Keep-alive connections to any number of upstreams, for one event loop."""

    def __init__(self, max_idle: int = MAX_IDLE) -> None:
        self.max_idle = max_idle
        self._idle: dict[tuple[bool, str, int], list[Connection]] = {}
        self._tls: ssl.SSLContext | None = None
        self.opened = 0

    async def post(
        self, target: Target, body: bytes, headers: list[tuple[bytes, bytes]], timeout: float
    ) -> Answer:
        head = [b"POST " + target.path + b" HTTP/1.1", b"Host: " + target.host_header]
        head += [name + b": " + value for name, value in headers]
        head.append(b"Content-Length: " + str(len(body)).encode())
        raw = b"\r\n".join(head) + b"\r\n\r\n" + body
        where = (target.secure, target.host, target.port)
        try:
            async with asyncio.timeout(timeout):
                idle = self._idle.get(where)
                if idle:
                    try:
                        return await self._exchange(idle.pop(), raw, where)
                    except _Stale:
                        pass  # closed while idle: the upstream never saw the request
                try:
                    return await self._exchange(await self._connect(where), raw, where)
                except _Stale:
                    raise UpstreamError("closed the connection without answering") from None
        except TimeoutError:
            raise UpstreamTimeout(f"no answer within {timeout:g} s") from None

    async def _connect(self, where: tuple[bool, str, int]) -> Connection:
        secure, host, port = where
        if secure and self._tls is None:
            self._tls = ssl.create_default_context()
        try:
            conn = await asyncio.open_connection(
                host, port, limit=MAX_HEAD, ssl=self._tls if secure else None
            )
        except (OSError, ssl.SSLError) as exc:
            raise UpstreamError(f"cannot connect: {exc.strerror or exc}") from None
        self.opened += 1
        return conn

    async def _exchange(self, conn: Connection, raw: bytes, where: tuple[bool, str, int]) -> Answer:
        reader, writer = conn
        answered = False
        try:
            writer.write(raw)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if not exc.partial:
                    raise _Stale from None
                raise
            answered = True
            status, headers, length, chunked, close = _parse_head(head)
            if chunked:
                body = await _read_chunked(reader)
            elif length is not None:
                if length > MAX_BODY:
                    raise ValueError("answer too large")
                body = await reader.readexactly(length)
            else:
                body = await reader.read(MAX_BODY)
                close = True
        except _Stale:
            _close(writer)
            raise
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            _close(writer)
            if not answered and isinstance(exc, ConnectionError):
                raise _Stale from None
            raise UpstreamError(f"broken answer ({type(exc).__name__})") from None
        except BaseException:  # cancelled or timed out mid-answer: the connection is unusable
            _close(writer)
            raise
        idle = self._idle.setdefault(where, [])
        if close or len(idle) >= self.max_idle:
            _close(writer)
        else:
            idle.append(conn)
        return Answer(status, headers, body)

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
