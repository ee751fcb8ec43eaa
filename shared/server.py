"""Start-up: logging, the `--healthcheck` CLI, and uvicorn servers on one loop.

One process may serve several apps (`make run` serves all four): each gets
its own uvicorn Server, all on one event loop, and one signal handler stops
them together so every lifespan shutdown (flush writes, stop threads, close
the database) runs before exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from types import SimpleNamespace

import uvicorn
from starlette.applications import Starlette

from shared.config import ConfigError, Var, load, parse_port

_LEVELS = {
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}

_API_KEY_IN_URL = re.compile(r"(api_key=)[^&\s]*")


def redact(text: str) -> str:
    """Keys never reach a log line, even inside a logged URL."""
    return _API_KEY_IN_URL.sub(r"\1[redacted]", text)


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str) and "api_key=" in record.msg:
            record.msg = redact(record.msg)
        return True


class _UTCFormatter(logging.Formatter):
    converter = time.gmtime

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", self.converter(record.created))

    def format(self, record: logging.LogRecord) -> str:
        # The whole line: a key may sit in the format string, a mapping or a traceback.
        return redact(super().format(record))


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_UTCFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_RedactFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level])
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def healthcheck(environ: dict[str, str] | None = None) -> int:
    """`--healthcheck`: GET /health on this service's port; 0 on 200, else 1."""
    env = os.environ if environ is None else environ
    try:
        port = parse_port(env.get("PORT", "8000"))
    except ValueError as exc:
        print(f"unhealthy: PORT is invalid: {exc}")
        return 1
    url = f"http://127.0.0.1:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback only
            print(f"healthy: {url} answered {resp.status}")
            return 0 if resp.status == 200 else 1
    except urllib.error.HTTPError as exc:
        print(f"unhealthy: {url} answered {exc.code}")
    except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy"
        print(f"unhealthy: {url}: {getattr(exc, 'reason', exc)}")
    return 1


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
    name: str = ""


def _uvicorn_config(served: Served, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        served.app,
        host=served.host,
        port=served.port,
        loop="none",
        http="httptools",
        lifespan="on",
        access_log=log_level == "debug",
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=10,
        backlog=2048,
    )


async def serve(apps: Sequence[Served], log_level: str = "info") -> None:
    servers = [_Server(_uvicorn_config(s, log_level)) for s in apps]
    loop = asyncio.get_running_loop()

    def stop(sig: signal.Signals) -> None:
        for server in servers:
            # A second Ctrl-C skips waiting for open connections; SIGTERM never does.
            if server.should_exit and sig == signal.SIGINT:
                server.force_exit = True
            server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop, sig)
    try:
        await asyncio.gather(*(server.serve() for server in servers))
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
    except OSError as exc:
        logging.getLogger("monlight").error("cannot listen: %s", exc)
        return 1
    return 0


def main(
    name: str,
    variables: Sequence[Var],
    build: Callable[[SimpleNamespace], Starlette],
    argv: Sequence[str] | None = None,
) -> int:
    """`python -m <service>`: start the service, or `--healthcheck` it."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--healthcheck" in args:
        return healthcheck()
    if args:
        print(f"usage: python -m {name} [--healthcheck]", file=sys.stderr)
        return 2
    try:
        config = load(variables)
    except ConfigError as exc:
        print(f"{name}: configuration error: {exc}", file=sys.stderr)
        return 1
    configure_logging(config.log_level)
    logging.getLogger("monlight").info(
        "%s starting on http://%s:%d (database %s)",
        name,
        config.host,
        config.port,
        config.database_path,
    )
    return run([Served(build(config), config.host, config.port, name)], config.log_level)
