"""Hang detection: report `ApplicationHung` when the app stops calling `heartbeat()`.

A watchdog thread checks the time since the last heartbeat; past `timeout`
it reports one error whose traceback is the watched thread's current stack
(where it is stuck), and when heartbeats resume it counts a recovery
(`monlight_heartbeat_recovered_total`).
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from typing import Any

from monlight import _defaults
from monlight.error_client import ErrorClient
from monlight.metrics_client import MetricsClient


class ApplicationHung(Exception):
    """No heartbeat for longer than the monitor's timeout."""


class HeartbeatMonitor:
    """Watches for heartbeats from one thread (by default the one that starts it)."""

    def __init__(
        self,
        timeout: float,
        *,
        name: str = "main",
        error_client: ErrorClient | None = None,
        metrics_client: MetricsClient | None = None,
        check_interval: float | None = None,
        watched_thread: threading.Thread | None = None,
    ) -> None:
        self.timeout = timeout
        self.name = name
        self.error_client = error_client
        self.metrics_client = metrics_client
        self.check_interval = check_interval or min(1.0, timeout / 4)
        self._watched = watched_thread or threading.current_thread()
        self._last = time.monotonic()
        self._hung = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def hung(self) -> bool:
        return self._hung

    def start(self) -> HeartbeatMonitor:
        self._last = time.monotonic()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="monlight-heartbeat", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(self.check_interval + 1)
        self._thread = None

    def heartbeat(self) -> None:
        """Mark the app alive; after a reported hang, count the recovery."""
        self._last = time.monotonic()
        if self._hung:
            self._hung = False
            client = self.metrics_client or _defaults.get_metrics_client()
            if client is not None:
                client.counter("monlight_heartbeat_recovered_total", labels={"monitor": self.name})

    def _run(self) -> None:
        while not self._stop.wait(self.check_interval):
            silent = time.monotonic() - self._last
            if not self._hung and silent > self.timeout:
                self._report(silent)
                self._hung = True

    def _report(self, silent: float) -> None:
        exc = ApplicationHung(
            f"no heartbeat from {self.name!r} for {silent:.1f} s (timeout {self.timeout:g} s)"
        )
        frame = sys._current_frames().get(self._watched.ident or -1)
        stack = "".join(traceback.format_stack(frame)) if frame is not None else ""
        text = f"Traceback (most recent call last):\n{stack}ApplicationHung: {exc}\n"
        client = self.error_client or _defaults.get_error_client()
        if client is not None:
            extra: dict[str, Any] = {"monitor": self.name, "seconds_since_heartbeat": silent}
            client.capture_exception(exc, extra=extra, _traceback=text)
        metrics = self.metrics_client or _defaults.get_metrics_client()
        if metrics is not None:
            metrics.counter("monlight_heartbeat_hung_total", labels={"monitor": self.name})


_monitor: HeartbeatMonitor | None = None


def start_heartbeat_monitor(timeout: float, **options: Any) -> HeartbeatMonitor:
    """Start (or replace) the process's monitor; options as for `HeartbeatMonitor`."""
    global _monitor
    if _monitor is not None:
        _monitor.stop()
    _monitor = HeartbeatMonitor(timeout, **options).start()
    return _monitor


def stop_heartbeat_monitor() -> None:
    global _monitor
    if _monitor is not None:
        _monitor.stop()
        _monitor = None


def heartbeat() -> None:
    """Tell the process's monitor the app is alive (no-op without one)."""
    if _monitor is not None:
        _monitor.heartbeat()
