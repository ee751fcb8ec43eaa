"""Live tail: entries stored by the ingestion thread, pushed to SSE clients.

A `TailHub` holds at most MAX_TAILS subscribers (the next one is refused:
429). The ingestion thread publishes what each write job stored; each
subscriber's event loop receives only the entries matching its filters,
into a bounded queue. A client too slow to keep up is closed (with an
`event: close` saying why) rather than letting its queue grow without end.
`stream` is one connection's event stream: `log` events, a `heartbeat`
every HEARTBEAT seconds, and `close` after MAX_DURATION or on shutdown; the
slot is freed as soon as the stream ends, however it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from asyncio import FIRST_COMPLETED
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

MAX_TAILS = 5
HEARTBEAT = 15.0
MAX_DURATION = 30 * 60.0
#: Entries waiting for one client before it counts as too slow.
QUEUE_ENTRIES = 2_000

Event = dict[str, Any]


class TooManyTails(Exception):
    """Every tail slot is taken."""


def sse(event: str, data: Any) -> bytes:
    """One Server-Sent Event; data is JSON (one line: orjson never emits newlines)."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


@dataclass(eq=False)
class Subscriber:
    container: str | None
    level: str | None
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Event | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_ENTRIES))
    closed_because: str | None = None

    def wants(self, entry: Event) -> bool:
        return (self.container is None or entry["container"] == self.container) and (
            self.level is None or entry["level"] == self.level
        )

    def offer(self, entries: list[Event]) -> None:
        """On the subscriber's loop: queue its entries, or close it when it lags."""
        if self.closed_because is not None:
            return
        for entry in entries:
            try:
                self.queue.put_nowait(entry)
            except asyncio.QueueFull:
                self.close("too slow: entries arrived faster than they were read")
                return

    def close(self, reason: str) -> None:
        """On the subscriber's loop: end its stream with `reason`."""
        self.closed_because = reason
        if self.queue.full():
            self.queue.get_nowait()  # room for the wake-up
        self.queue.put_nowait(None)


class TailHub:
    def __init__(self, limit: int = MAX_TAILS) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def join(self, container: str | None, level: str | None) -> Subscriber:
        """A slot for the caller's loop (TooManyTails when none is free); `leave` frees it."""
        sub = Subscriber(container, level, asyncio.get_running_loop())
        with self._lock:
            if len(self._subscribers) >= self.limit:
                raise TooManyTails(f"at most {self.limit} live tails at once")
            self._subscribers.append(sub)
        return sub

    def leave(self, sub: Subscriber) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    @contextlib.contextmanager
    def subscribe(self, container: str | None, level: str | None) -> Iterator[Subscriber]:
        """`join` for a block: the slot is freed when it exits, however it exits."""
        sub = self.join(container, level)
        try:
            yield sub
        finally:
            self.leave(sub)

    def publish(self, entries: list[Event]) -> None:
        """From any thread: hand each subscriber the entries it wants."""
        with self._lock:
            subscribers = list(self._subscribers)
        for sub in subscribers:
            wanted = [e for e in entries if sub.wants(e)]
            if wanted:
                with contextlib.suppress(RuntimeError):  # its loop has closed
                    sub.loop.call_soon_threadsafe(sub.offer, wanted)

    def close_all(self, reason: str) -> None:
        """Shutdown: every stream ends with a close event."""
        with self._lock:
            subscribers = list(self._subscribers)
        for sub in subscribers:
            with contextlib.suppress(RuntimeError):
                sub.loop.call_soon_threadsafe(sub.close, reason)


async def stream(
    sub: Subscriber,
    *,
    heartbeat: float = HEARTBEAT,
    max_duration: float = MAX_DURATION,
    clock: Callable[[], float] = time.monotonic,
    disconnected: asyncio.Event | None = None,
) -> AsyncIterator[bytes]:
    """One connection's events until it is closed, the client leaves (`disconnected`
    is set: the slot is freed then, not at the next write), or MAX_DURATION passes."""
    deadline = clock() + max_duration
    gone = disconnected or asyncio.Event()
    yield b": connected\n\n"
    while not gone.is_set():
        left = deadline - clock()
        if left <= 0:
            yield sse("close", {"reason": "the stream lasts 30 minutes at most: reconnect"})
            return
        getting = asyncio.ensure_future(sub.queue.get())
        leaving = asyncio.ensure_future(gone.wait())
        try:
            done, _ = await asyncio.wait(
                (getting, leaving), timeout=min(heartbeat, left), return_when=FIRST_COMPLETED
            )
        finally:
            for task in (getting, leaving):
                if not task.done():
                    task.cancel()
        if getting not in done:
            if not gone.is_set() and deadline - clock() > 0:
                yield sse("heartbeat", {"time": time.time()})
            continue
        entry = getting.result()
        if entry is None:
            yield sse("close", {"reason": sub.closed_because or "closed"})
            return
        yield sse("log", entry)
