"""Background threads that wake on a timer and stop promptly on shutdown."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from shared.logs import spawn

log = logging.getLogger("monlight.workers")


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
            except Exception:  # noqa: BLE001 - a failed run must not kill the worker
                log.exception("%s run failed", self.name)
            self.runs += 1
