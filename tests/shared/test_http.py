"""What a client can hold of a server: a bounded head, no socket kept for nothing."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared import http
from shared.http import GuardedHttpToolsProtocol
from tests.helpers import free_port, wait_until


async def echo(request: Request) -> Response:
    return JSONResponse({"received": len(await request.body())})


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A real uvicorn with the guarded protocol, short timeouts, at most 3 connections."""
    monkeypatch.setattr(http, "HEAD_TIMEOUT", 0.5)
    monkeypatch.setattr(http, "BODY_IDLE_TIMEOUT", 0.5)
    port = free_port()
    config = uvicorn.Config(
        Starlette(routes=[Route("/", echo, methods=["GET", "POST"])]),
        host="127.0.0.1",
        port=port,
        http=GuardedHttpToolsProtocol,
        lifespan="off",
        log_level="error",
        limit_concurrency=4,  # as shared.server sets it for MAX_CONNECTIONS=3
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    wait_until(lambda: srv.started, what="uvicorn to start")
    yield port
    srv.should_exit = True
    thread.join(10)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes (a timeout fails the test)."""
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def test_a_head_over_16_kib_is_431_and_closed(server: int) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431")
    assert b'"detail":"Request head exceeds 16384 bytes"' in answer


def test_a_head_within_the_limit_passes(server: int) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 12_000 + b"\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET / HTTP/1.1\r\nHost: x\r\n", b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n0123"],
    ids=["nothing", "half-a-head", "half-a-body"],
)
def test_sockets_that_stall_are_closed(server: int, sent: bytes) -> None:
    with connect(server) as sock:
        sock.sendall(sent)
        started = time.monotonic()
        assert read_all(sock) == b""  # closed by the server, not by our 5 s timeout
        assert time.monotonic() - started < 3


def test_a_slow_but_steady_body_and_keep_alive_still_work(server: int) -> None:
    with connect(server) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n")
        for _ in range(4):  # a byte pair every 0.3 s: slower than nothing, faster than idle
            time.sleep(0.3)
            sock.sendall(b"ab")
        first = sock.recv(1000)
        assert first.startswith(b"HTTP/1.1 200") and first.endswith(b'{"received":8}')
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # same connection
        assert sock.recv(1000).startswith(b"HTTP/1.1 200")


def test_connections_past_the_bound_get_503(server: int) -> None:
    held = [connect(server) for _ in range(3)]
    try:
        for sock in held:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(1000).startswith(b"HTTP/1.1 200")
        with connect(server) as extra:
            extra.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert extra.recv(1000).startswith(b"HTTP/1.1 503")
    finally:
        for sock in held:
            sock.close()
