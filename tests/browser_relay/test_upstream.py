"""The relay's upstream client against upstreams that misbehave on loopback:
slow, silent, closing, chunked, garbage — each a clear UpstreamError or a clean answer."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator

import orjson
import pytest

from browser_relay.forwarding import Upstreams
from browser_relay.upstream import Answer, Pool, Target, UpstreamError, UpstreamTimeout
from shared.responses import ApiError

Handler = Callable[[socket.socket], None]


class RawServer:
    """A loopback TCP server whose every connection is handled by `handler` in a thread."""

    def __init__(self, handler: Handler) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.handler = handler
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.handler, args=(conn,), daemon=True).start()

    def close(self) -> None:
        self.sock.close()


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    while len(body) < length:
        body += conn.recv(65536)
    return head


def answering(*answers: bytes, keep: bool = True) -> Handler:
    def handle(conn: socket.socket) -> None:
        with conn:
            for answer in answers:
                if not read_request(conn):
                    return
                conn.sendall(answer)
            if keep:
                while read_request(conn):
                    conn.sendall(answers[-1])

    return handle


OK = (
    b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n"
    b'{"status":"ok"}'
)


@pytest.fixture
def server() -> Iterator[Callable[[Handler], RawServer]]:
    made: list[RawServer] = []

    def make(handler: Handler) -> RawServer:
        made.append(RawServer(handler))
        return made[-1]

    yield make
    for s in made:
        s.close()


def post(url: str, timeout: float = 5.0, times: int = 1) -> list[Answer]:
    async def run() -> list[Answer]:
        pool = Pool()
        target = Target.of(f"{url}/api/errors")
        headers = [(b"Content-Type", b"application/json")]
        try:
            return [
                await pool.post(target, orjson.dumps({"n": i}), headers, timeout)
                for i in range(times)
            ]
        finally:
            await pool.aclose()

    return asyncio.run(run())


def test_keep_alive_reuses_one_connection(server: Callable[[Handler], RawServer]) -> None:
    s = server(answering(OK))
    answers = post(s.url, times=20)
    assert [a.status for a in answers] == [201] * 20
    assert orjson.loads(answers[0].body) == {"status": "ok"} and s.connections == 1
    assert answers[0].header(b"content-type") == b"application/json"


def test_chunked_answers_are_read(server: Callable[[Handler], RawServer]) -> None:
    chunked = (
        b'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n7\r\n{"a": 1\r\n1\r\n}\r\n0\r\n\r\n'
    )
    s = server(answering(chunked))
    assert [orjson.loads(a.body) for a in post(s.url, times=2)] == [{"a": 1}, {"a": 1}]


def test_an_idle_connection_closed_by_the_upstream_is_replaced(
    server: Callable[[Handler], RawServer],
) -> None:
    s = server(answering(OK, keep=False))  # one answer per connection, then it closes
    answers = post(s.url, times=3)
    assert [a.status for a in answers] == [201] * 3 and s.connections == 3


def test_a_silent_upstream_is_a_timeout(server: Callable[[Handler], RawServer]) -> None:
    released = threading.Event()

    def silent(conn: socket.socket) -> None:
        read_request(conn)
        released.wait(10)  # holds the connection open without a byte of answer
        conn.close()

    s = server(silent)
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        post(s.url, timeout=0.5)
    assert time.monotonic() - started < 2
    released.set()


@pytest.mark.parametrize(
    "answer",
    [b"garbage\r\n\r\n", b"HTTP/1.1 abc OK\r\n\r\n", b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n"],
)
def test_garbage_answers_are_protocol_errors(
    server: Callable[[Handler], RawServer], answer: bytes
) -> None:
    s = server(answering(answer, keep=False))
    with pytest.raises(UpstreamError, match="broken answer"):
        post(s.url)


def test_a_closed_port_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(UpstreamError, match="cannot connect"):
        post(f"http://127.0.0.1:{port}")


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        (b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n", "answered 503"),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort", "broken answer"),
    ],
)
def test_upstream_failures_are_502s_naming_the_upstream(
    server: Callable[[Handler], RawServer], answer: bytes, detail: str
) -> None:
    s = server(answering(answer, keep=False))

    async def run() -> ApiError:
        upstreams = Upstreams(s.url, "k", s.url, "k")
        try:
            with pytest.raises(ApiError) as caught:
                await upstreams.error({"x": 1})
            return caught.value
        finally:
            await upstreams.aclose()

    error = asyncio.run(run())
    assert error.status_code == 502 and "Error Tracker" in error.detail and detail in error.detail


def test_the_request_is_what_the_upstream_expects(server: Callable[[Handler], RawServer]) -> None:
    seen: list[bytes] = []

    def recording(conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            seen.append(data)
            conn.sendall(OK)

    s = server(recording)
    post(s.url + "/prefix")
    head = seen[0].split(b"\r\n\r\n")[0].split(b"\r\n")
    assert head[0] == b"POST /prefix/api/errors HTTP/1.1"
    assert f"Host: 127.0.0.1:{s.url.rsplit(':', 1)[1]}".encode() in head
    assert b"Content-Length: 7" in head and b"Content-Type: application/json" in head
