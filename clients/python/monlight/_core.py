"""Plumbing shared by the clients: retry policy, fork and exit hooks, pooled HTTP clients."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import email.utils
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

logger = logging.getLogger("monlight")

#: How long the interpreter may wait at exit for pending reports, all clients together.
EXIT_TIMEOUT = 2.0


def is_retryable_status(status: int) -> bool:
    """429 and 5xx are worth another try; any other 4xx will fail the same way again."""
    return status == 429 or status >= 500


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The server's `Retry-After` in seconds (delta or HTTP date), or None."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class RetryPolicy:
    """Exponential backoff with equal jitter; a server's Retry-After wins (capped)."""

    max_retries: int = 5
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 300.0

    def delay(
        self,
        failures: int,
        retry_after: float | None = None,
        rand: Callable[[], float] | None = None,
    ) -> float:
        """Seconds to wait after the `failures`-th consecutive failure (1-based)."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        full = min(self.cap, self.base * float(2 ** max(0, failures - 1)))
        # Equal jitter: never less than half the step (so backoff really grows), never
        # in lockstep with every other process that saw the same outage.
        return full / 2 + (rand or random.random)() * full / 2


class _Lifecycle(Protocol):
    def _after_fork(self) -> None: ...

    def _at_exit(self, timeout: float) -> None: ...


_live: weakref.WeakSet[Any] = weakref.WeakSet()


def register(obj: _Lifecycle) -> None:
    """Track a client so fork and interpreter exit reach it (weakly: it may still die)."""
    _live.add(obj)


def _after_fork_in_child() -> None:
    # Threads do not survive fork and locks may have been held by one of them:
    # every client rebuilds its locks, forgets the parent's pending data (the
    # parent still sends it) and restarts its threads.
    for obj in list(_live):
        with contextlib.suppress(Exception):  # never break the child
            obj._after_fork()


def _flush_all_at_exit() -> None:
    deadline = time.monotonic() + EXIT_TIMEOUT
    for obj in list(_live):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            obj._at_exit(remaining)
        except Exception:
            logger.debug("monlight: flush at exit failed", exc_info=True)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_flush_all_at_exit)


class HttpPool:
    """One pooled sync client per process and one async client per event loop.

    httpx clients own sockets: after fork the child makes its own; an async
    client is bound to the loop that first used it, so a new loop gets a new one.
    """

    def __init__(self, timeout: float, transport: Any = None) -> None:
        self.timeout = timeout
        self.transport = transport
        self._lock = threading.Lock()
        self._sync: httpx.Client | None = None
        self._async: tuple[asyncio.AbstractEventLoop, httpx.AsyncClient] | None = None

    def sync(self) -> httpx.Client:
        client = self._sync
        if client is None:
            with self._lock:
                if self._sync is None:
                    self._sync = httpx.Client(
                        timeout=self.timeout,
                        transport=self.transport,
                        limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
                    )
                client = self._sync
        return client

    def async_(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        current = self._async
        if current is not None and current[0] is loop:
            return current[1]
        transport = self.transport if hasattr(self.transport, "handle_async_request") else None
        client = httpx.AsyncClient(
            timeout=self.timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
        )
        self._async = (loop, client)
        return client

    def after_fork(self) -> None:
        """Forget the parent's connections without closing them (the parent still uses them)."""
        self._lock = threading.Lock()
        self._sync = None
        self._async = None

    def close(self) -> None:
        with self._lock:
            client, self._sync = self._sync, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        self._async = None
