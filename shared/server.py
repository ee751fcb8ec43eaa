"""Start-up: the `--healthcheck` CLI, listening sockets, uvicorn servers on one loop.

One process may serve several apps (`make run` serves them all): each gets
its own uvicorn Server, all on one event loop, and one signal handler stops
them together so every lifespan shutdown (flush writes, stop threads, close
the database) runs before exit. Sockets are bound here, before any server
starts, so a busy port is one clear line and nothing half-started.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
import sys
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette

from shared.config import ConfigError
from shared.entry import healthcheck
from shared.http import GuardedHttpToolsProtocol
from shared.logs import configure_logging, current_service, redact

if TYPE_CHECKING:
    from shared.service import Service

__all__ = ["Served", "bind", "configure_logging", "healthcheck", "main", "redact", "run"]


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket, as uvicorn would bind it; OSError with a short reason."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {reason or exc}") from None
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """A uvicorn Server that leaves signals to `serve()` so several can share them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass
class Served:
    app: Starlette
    host: str
    port: int
    name: str
    sock: socket.socket
    #: Connections (and requests in progress) past which new ones get 503; 0: no bound.
    max_connections: int = 0
    #: Servers (by name) that send requests to this one: on a stop it keeps serving
    #: until they have finished theirs (the relay's forwards reach the tracker).
    after: frozenset[str] = frozenset()


def _uvicorn_config(served: Served, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        served.app,
        host=served.host,
        port=served.port,
        loop="none",
        lifespan="on",
        access_log=log_level == "debug",
        log_config=None,
        server_header=False,
        # The gate reads X-Forwarded-For itself, and only from TRUSTED_PROXIES: uvicorn's
        # own rewrite (on by default for 127.0.0.1 peers) would let any local proxy's
        # header pick the client address the per-IP rate limit counts.
        proxy_headers=False,
        timeout_graceful_shutdown=10,
        backlog=2048,
        http=GuardedHttpToolsProtocol,
        # uvicorn refuses once the count reaches its limit: N connections are served.
        limit_concurrency=served.max_connections + 1 if served.max_connections else None,
    )


async def serve(apps: Sequence[Served], log_level: str = "info") -> None:
    servers = [_Server(_uvicorn_config(s, log_level)) for s in apps]
    loop = asyncio.get_running_loop()
    present = {s.name for s in apps}
    finished: set[str] = set()
    stopping = False

    def release(ordered: bool = True) -> None:
        """Tell each server to stop once nothing still running sends requests to it."""
        for server, served in zip(servers, apps, strict=True):
            if server.should_exit or (ordered and (served.after & present) - finished):
                continue
            state = getattr(served.app.state, "runtime", None)
            if state is not None:
                state.drain()
            server.should_exit = True

    def stop(sig: signal.Signals) -> None:
        nonlocal stopping
        # A second Ctrl-C skips waiting for open connections (and the order); SIGTERM
        # never does.
        again = stopping and sig == signal.SIGINT
        stopping = True
        release(ordered=not again)
        if again:  # every server, held back for the order or not: stop waiting now
            for server in servers:
                server.force_exit = True

    async def one(server: _Server, served: Served) -> bool:
        current_service.set(served.name)  # this task's context: its requests and threads
        try:
            await server.serve(sockets=[served.sock])
        except SystemExit:  # its lifespan start-up failed: stop the others cleanly too
            stop(signal.SIGTERM)
            return False
        finally:
            finished.add(served.name)
            if stopping:
                release()
        return True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop, sig)
    try:
        started = await asyncio.gather(
            *(one(server, s) for server, s in zip(servers, apps, strict=True))
        )
        if not all(started):
            raise SystemExit(1)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def run(apps: Sequence[Served], log_level: str = "info") -> int:
    """Serve until SIGTERM/SIGINT; 0 on a clean stop, 1 if start-up failed."""
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        factory = None
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(serve(apps, log_level))
    except SystemExit as exc:  # uvicorn exits when a lifespan start-up fails
        return 1 if exc.code else 0
    finally:
        for served in apps:
            served.sock.close()
    return 0


def main(service: Service[Any, Any], argv: Sequence[str] | None = None) -> int:
    """`python -m <service>`: start the service, or `--healthcheck` it."""
    name = service.name
    args = list(sys.argv[1:] if argv is None else argv)
    if "--healthcheck" in args:
        return healthcheck()  # normally answered by shared.entry before the service loads
    if args:
        print(f"usage: python -m {name} [--healthcheck]", file=sys.stderr)
        return 2
    try:
        settings = service.load()
    except ConfigError as exc:
        print(f"{name}: configuration error: {exc}", file=sys.stderr)
        return 1
    try:
        sock = bind(settings.host, settings.port)
    except OSError as exc:
        print(f"{name}: {exc.strerror} (set PORT to another port)", file=sys.stderr)
        return 1
    configure_logging(settings.log_level)
    current_service.set(name)
    logging.getLogger("monlight").info(
        "%s starting on http://%s:%d (database %s)",
        service.title,
        settings.host,
        settings.port,
        settings.database_path,
    )
    served = Served(
        service.app(settings), settings.host, settings.port, name, sock, settings.max_connections
    )
    return run([served], settings.log_level)
