"""Log lines: UTC time, level, which service, logger, message — never a key.

In the one-process stack several services share one stderr, so every line
names its service. The name travels in a context variable: set once per
uvicorn server, it reaches the requests' tasks on its own, and `spawn`
carries it into the service's threads (writer, workers).
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import threading
import time
from collections.abc import Callable

LEVELS = {
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}

#: The service a line comes from ("" outside any service).
current_service: contextvars.ContextVar[str] = contextvars.ContextVar(
    "monlight_service", default=""
)

#: `api_key=` (any service) and `key=` (the relay's DSN key, for sendBeacon) in a URL.
_API_KEY_IN_URL = re.compile(r"((?:\bapi_key|(?<=[?&])key)=)[^&\s]*")


def redact(text: str) -> str:
    """Keys never reach a log line, even inside a logged URL."""
    return _API_KEY_IN_URL.sub(r"\1[redacted]", text)


def spawn(target: Callable[[], None], name: str) -> threading.Thread:
    """A started daemon thread that logs as the service that started it."""
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(target,), name=name, daemon=True)
    thread.start()
    return thread


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str) and "key=" in record.msg:
            record.msg = redact(record.msg)
        service = current_service.get()
        record.service = f"[{service}] " if service else ""
        return True


class _UTCFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))

    def format(self, record: logging.LogRecord) -> str:
        # The whole line: a key may sit in the format string, a mapping or a traceback.
        return redact(super().format(record))


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        _UTCFormatter("%(asctime)s %(levelname)s %(service)s%(name)s: %(message)s")
    )
    handler.addFilter(_RedactFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS[level])
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
