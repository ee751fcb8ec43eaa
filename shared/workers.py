"""The two shapes of background work: periodic (on a timer) and queued (fed by requests).

Both run on their own thread (named, logging as their service), stop
promptly on shutdown and never let a failed run kill the thread.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Generic, TypeVar

from shared.db import StorageError
from shared.logs import spawn

log = logging.getLogger("monlight.workers")

T = TypeVar("T")


class PeriodicWorker:
    """Runs `fn` every `interval` seconds on its own thread until stopped."""

    def __init__(
        self,
        name: str,
        fn: Callable[[], None],
        interval: float,
        *,
        run_at_start: bool = False,
    ) -> None:
        self.name = name
        self._fn = fn
        self._interval = interval
        self._run_at_start = run_at_start
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0

    def start(self) -> None:
        self._thread = spawn(self._loop, self.name)

    def trigger(self) -> None:
        """Run now rather than at the next tick."""
        self._wake.set()

    def stopping(self) -> bool:
        """True once stop() was called: a long run checks it to end early."""
        return self._stop.is_set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        first = True
        while not self._stop.is_set():
            if not (first and self._run_at_start):
                self._wake.wait(self._interval)
                self._wake.clear()
                if self._stop.is_set():
                    break
            first = False
            try:
                self._fn()
            except StorageError:
                pass  # the writer says it once per failure burst; the next run retries
            except Exception:  # noqa: BLE001 - a failed run must not kill the worker
                log.exception("%s run failed", self.name)
            self.runs += 1


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """How much a QueueWorker holds, gathers and waits (see QueueWorker)."""

    max_items: int = 1000
    #: Total `size` of the items held (0: no bound beyond max_items).
    max_bytes: int = 0
    max_batch: int = 50
    window: float = 0.2
    backoff_min: float = 1.0
    backoff_max: float = 60.0
    stop_grace: float = 3.0


class QueueWorker(Generic[T]):
    """A bounded queue filled from the event loop, drained in batches by one thread.

    For work that talks to something slow or down (an SMTP server): `put()`
    never blocks and never raises; past `max_items` an item is dropped and
    counted, with one warning per overflow episode rather than one per drop.
    The thread lets a burst gather for `window` seconds after its first item,
    then hands up to `max_batch` items to `handle(batch)`, which returns the
    items to try again and whether the attempt went through. After a failed
    attempt it backs off (doubling from `backoff_min` to `backoff_max`) so a
    dead peer is not hammered. `stop()` lets the thread make one last attempt
    (unless it is backing off), waits at most `stop_grace` seconds, then calls
    `interrupt` (e.g. shut a socket) so shutdown never hangs on a silent peer.
    """

    def __init__(
        self,
        name: str,
        handle: Callable[[list[T]], tuple[list[T], bool]],
        *,
        noun: str,
        target: Callable[[], str],
        size: Callable[[T], int] = lambda item: 0,
        limits: QueueLimits = QueueLimits(),
        interrupt: Callable[[], None] | None = None,
        logger: logging.Logger = log,
    ) -> None:
        self.name = name
        self._handle = handle
        self._noun = noun
        self._target = target
        self._size = size
        self.limits = limits
        self._interrupt = interrupt
        self._log = logger
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._overflowing = False
        self._thread: threading.Thread | None = None
        #: Items dropped because the queue was full.
        self.dropped = 0
        #: The summed `size` of the items queued now.
        self.queued_bytes = 0

    def pending(self) -> int:
        with self._cond:
            return len(self._items)

    def put(self, item: T) -> bool:
        """Queue an item; False (and counted) when the queue is full (items or bytes)."""
        size = self._size(item)
        limits = self.limits
        with self._cond:
            full = len(self._items) >= limits.max_items or (
                limits.max_bytes > 0 and self.queued_bytes + size > limits.max_bytes
            )
            if full:
                self.dropped += 1
                if not self._overflowing:
                    self._overflowing = True
                    self._log.warning(
                        "%s queue full (%d waiting for %s): dropping new %ss until it catches up",
                        self._noun,
                        len(self._items),
                        self._target(),
                        self._noun,
                    )
                return False
            self._items.append(item)
            self.queued_bytes += size
            self._cond.notify()
            return True

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping = False
        self._thread = spawn(self._run, self.name)

    def stop(self) -> None:
        thread = self._thread
        if thread is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        thread.join(self.limits.stop_grace)
        if thread.is_alive() and self._interrupt is not None:
            self._interrupt()
            thread.join(1.0)
        self._thread = None

    def _has_work(self, carried: int) -> bool:
        return self._stopping or bool(self._items) or carried > 0

    def _batch_full(self, carried: int) -> bool:
        return self._stopping or len(self._items) + carried >= self.limits.max_batch

    def _take(self, n: int) -> list[T]:
        """Pop up to n queued items (caller holds the lock)."""
        out: list[T] = []
        while self._items and len(out) < n:
            item = self._items.popleft()
            self.queued_bytes -= self._size(item)
            out.append(item)
        if not self._items and self._overflowing:
            self._overflowing = False
            noun = self._noun
            self._log.info(
                "%s queue drained; %d %s(s) were dropped so far", noun, self.dropped, noun
            )
        return out

    def _attempt(self, batch: list[T]) -> tuple[list[T], bool]:
        try:
            return self._handle(batch)
        except Exception:  # noqa: BLE001 - the thread must outlive any bug
            self._log.exception("%s worker failed on a batch of %d", self.name, len(batch))
            return [], False

    def _run(self) -> None:
        limits = self.limits
        retry: list[T] = []
        backoff = 0.0
        while True:
            carried = len(retry)
            with self._cond:
                self._cond.wait_for(partial(self._has_work, carried))
                if self._stopping:
                    break
                if backoff:
                    if self._cond.wait_for(lambda: self._stopping, timeout=backoff):
                        break
                else:
                    self._cond.wait_for(
                        partial(self._batch_full, carried), timeout=self.limits.window
                    )
                batch = retry + self._take(self.limits.max_batch - carried)
            retry, ok = self._attempt(batch)
            backoff = (
                0.0
                if ok
                else min(self.limits.backoff_max, max(self.limits.backoff_min, backoff * 2))
            )
        # Shutting down: one last try at what is left, unless the peer is failing.
        with self._cond:
            batch = retry + self._take(limits.max_batch - len(retry))
        if batch and not backoff:
            retry, _ok = self._attempt(batch)
        else:
            retry = batch
        with self._cond:
            left = len(retry) + len(self._items)
        if left:
            self._log.warning(
                "%d %s(s) to %s not sent before shutdown", left, self._noun, self._target()
            )
