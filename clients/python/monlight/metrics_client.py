"""Metrics client for the Monlight Metrics Collector.

Points aggregate in the process between flushes, so a busy app sends
kilobytes rather than a point per request:

- counter: one point per series (name + labels) and flush, the summed value;
- gauge: one point per series and flush, the last value;
- histogram: every sample up to `max_samples_per_series` per series and flush,
  then a uniform reservoir of that many (Algorithm R), so percentiles stay
  unbiased while the batch stays bounded.

A point carries the time of its series' first observation in the flush
window. A flush that fails on a connection error, 5xx or 429 keeps its
points for the next one, up to `max_pending_points` (oldest dropped and
counted); the background flusher then waits with exponential backoff,
honouring `Retry-After`.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from typing import Any

import httpx

from monlight._core import HttpPool, RetryPolicy, is_retryable_status, register, retry_after_seconds

logger = logging.getLogger(__name__)

_TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
#: Points per POST: the collector takes up to 10,000 points and 4 MiB per batch.
MAX_BATCH_POINTS = 5000


class _Series:
    __slots__ = ("name", "type", "labels", "ts", "value", "count", "samples")

    def __init__(self, name: str, type_: str, labels: dict[str, Any] | None, ts: float) -> None:
        self.name = name
        self.type = type_
        self.labels = dict(labels) if labels else None
        self.ts = ts
        self.value: float = 0
        self.count = 0
        self.samples: list[float] = []


def _key(name: str, type_: str, labels: dict[str, Any] | None) -> tuple[Any, ...]:
    if not labels:
        return (name, type_)
    try:
        key = (name, type_, *sorted(labels.items()))
        hash(key)
        return key
    except TypeError:  # unhashable label values: still one series per distinct value
        return (name, type_, json.dumps(labels, sort_keys=True, default=str))


class MetricsClient:
    """Client for sending metrics to the Monlight Metrics Collector.

    Args:
        base_url: Base URL of the Metrics Collector (e.g. "http://metrics-collector:8000").
        api_key: API key for authentication.
        flush_interval: Seconds between automatic flushes (after `start()`).
        timeout: HTTP timeout per request, seconds.
        project: Sent with every point when set.
        max_samples_per_series: Histogram samples kept per series and flush.
        max_series: Distinct series per flush window; new ones beyond are dropped.
        max_pending_points: Points kept across failed flushes (oldest dropped).
        backoff_max: Longest wait between flushes while the collector fails.
        transport: An httpx transport (tests, `monlight.testing`).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        flush_interval: float = 10.0,
        timeout: float = 5.0,
        project: str | None = None,
        *,
        max_samples_per_series: int = 1000,
        max_series: int = 10_000,
        max_pending_points: int = 50_000,
        backoff_max: float = 300.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.flush_interval = flush_interval
        self.timeout = timeout
        self.project = project
        self.max_samples_per_series = max_samples_per_series
        self.max_series = max_series
        self.max_pending_points = max_pending_points
        self.retry = RetryPolicy(base=max(flush_interval, 0.01), cap=backoff_max)
        self._url = f"{self.base_url}/api/metrics"
        self._headers = {"X-API-Key": api_key}
        self._pool = HttpPool(timeout, transport)
        self._stats = {"sent": 0, "dropped": 0, "failed": 0}
        self._init_state()
        self._running = False
        self._timer: threading.Thread | None = None
        self._stop = threading.Event()
        register(self)

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._series: dict[tuple[Any, ...], _Series] = {}
        self._retained: list[dict[str, Any]] = []
        self._failures = 0
        self._retry_after: float | None = None

    # -- recording (hot path) ------------------------------------------------------

    def counter(self, name: str, labels: dict[str, str] | None = None, value: float = 1) -> None:
        """Add `value` to a counter; one summed point per series goes out per flush."""
        try:
            key = _key(name, "counter", labels)
            with self._lock:
                series = self._series.get(key)
                if series is None:
                    series = self._new_series_locked(key, name, "counter", labels)
                    if series is None:
                        return
                series.value += value
                series.count += 1
        except Exception:
            logger.debug("counter() failed", exc_info=True)

    def histogram(self, name: str, value: float, labels: dict[str, str] | None = None) -> None:
        """Observe a value (e.g. a duration); samples are bounded per series and flush."""
        try:
            key = _key(name, "histogram", labels)
            with self._lock:
                series = self._series.get(key)
                if series is None:
                    series = self._new_series_locked(key, name, "histogram", labels)
                    if series is None:
                        return
                series.count += 1
                samples = series.samples
                if len(samples) < self.max_samples_per_series:
                    samples.append(value)
                else:
                    slot = random.randrange(series.count)
                    if slot < len(samples):
                        samples[slot] = value
        except Exception:
            logger.debug("histogram() failed", exc_info=True)

    def gauge(self, name: str, value: float, labels: dict[str, str] | None = None) -> None:
        """Set a gauge; the last value of the flush window is sent."""
        try:
            key = _key(name, "gauge", labels)
            with self._lock:
                series = self._series.get(key)
                if series is None:
                    series = self._new_series_locked(key, name, "gauge", labels)
                    if series is None:
                        return
                series.value = value
                series.ts = time.time()
                series.count += 1
        except Exception:
            logger.debug("gauge() failed", exc_info=True)

    def _new_series_locked(
        self, key: tuple[Any, ...], name: str, type_: str, labels: dict[str, Any] | None
    ) -> _Series | None:
        if len(self._series) >= self.max_series:
            self._stats["dropped"] += 1
            return None
        series = _Series(name, type_, labels, time.time())
        self._series[key] = series
        return series

    # -- what would be sent --------------------------------------------------------------

    def _points(self, series: _Series) -> list[dict[str, Any]]:
        base: dict[str, Any] = {
            "name": series.name,
            "type": series.type,
            "timestamp": time.strftime(_TS_FORMAT, time.gmtime(series.ts)),
        }
        if series.labels:
            base["labels"] = series.labels
        if self.project:
            base["project"] = self.project
        if series.type == "histogram":
            return [{**base, "value": v} for v in series.samples]
        return [{**base, "value": series.value}]

    @property
    def _buffer(self) -> list[dict[str, Any]]:
        """Every pending point in wire form: kept from failed flushes, then the current window."""
        with self._lock:
            points = list(self._retained)
            for series in self._series.values():
                points.extend(self._points(series))
        return points

    def _take_all(self) -> list[dict[str, Any]]:
        with self._lock:
            series, self._series = self._series, {}
            points, self._retained = self._retained, []
        for s in series.values():
            points.extend(self._points(s))
        return points

    def _keep(self, points: list[dict[str, Any]]) -> None:
        """Put unsent points back ahead of newer ones, bounded (oldest dropped, counted)."""
        with self._lock:
            merged = points + self._retained
            excess = len(merged) - self.max_pending_points
            if excess > 0:
                merged = merged[excess:]
                self._stats["dropped"] += excess
                logger.warning("Metrics buffer full: dropped the %d oldest points", excess)
            self._retained = merged

    # -- sending ---------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Send every pending point now (one attempt per batch); True when all went out.

        On a connection error, 5xx or 429 the points are kept for the next
        flush; on another 4xx they are dropped (counted as failed). Never raises.
        """
        with self._flush_lock:
            return self._flush_locked(timeout)

    def _flush_locked(self, timeout: float | None) -> bool:
        try:
            points = self._take_all()
        except Exception:
            logger.debug("flush: collecting points failed", exc_info=True)
            return False
        if not points:
            return True
        all_sent = True
        for start in range(0, len(points), MAX_BATCH_POINTS):
            batch = points[start : start + MAX_BATCH_POINTS]
            outcome = self._post(batch, timeout)
            if outcome == "ok":
                self._failures = 0
                self._retry_after = None
                with self._lock:
                    self._stats["sent"] += len(batch)
            elif outcome == "retry":
                self._failures += 1
                self._keep(points[start:])
                return False
            else:
                all_sent = False
                with self._lock:
                    self._stats["failed"] += len(batch)
        return all_sent

    def _post(self, batch: list[dict[str, Any]], timeout: float | None) -> str:
        try:
            response = self._pool.sync().post(
                self._url,
                json=batch,
                headers=self._headers,
                timeout=self.timeout if timeout is None else timeout,
            )
        except Exception:
            logger.warning("Failed to flush %d metrics to collector", len(batch), exc_info=True)
            return "retry"
        if response.status_code in (200, 202):
            return "ok"
        logger.warning(
            "Metrics collector returned status %d: %s",
            response.status_code,
            response.text[:200],
        )
        if is_retryable_status(response.status_code):
            self._retry_after = retry_after_seconds(response)
            return "retry"
        return "fail"

    def start(self) -> None:
        """Start the background flusher (a daemon thread)."""
        if self._running:
            return
        self._running = True
        self._stop = threading.Event()
        self._timer = threading.Thread(target=self._run, name="monlight-metrics", daemon=True)
        self._timer.start()

    def _next_delay(self) -> float:
        if self._failures == 0:
            return self.flush_interval
        return max(self.flush_interval, self.retry.delay(self._failures, self._retry_after))

    def _run(self) -> None:
        stop = self._stop
        while not stop.wait(self._next_delay()):
            try:
                self.flush()
            except Exception:  # pragma: no cover - flush never raises; keep the thread alive
                logger.debug("background flush failed", exc_info=True)

    def shutdown(self, timeout: float | None = None) -> None:
        """Stop the background flusher and send what is pending."""
        self._running = False
        self._stop.set()
        timer, self._timer = self._timer, None
        if timer is not None and timer is not threading.current_thread():
            timer.join(self.timeout if timeout is None else timeout)
        self.flush(timeout)

    def get_stats(self) -> dict[str, int]:
        """Points since start: sent, dropped (buffer or series limit), queued, failed."""
        with self._lock:
            stats = dict(self._stats)
            queued = len(self._retained)
            for s in self._series.values():
                queued += len(s.samples) if s.type == "histogram" else 1
        stats["queued"] = queued
        return stats

    def _after_fork(self) -> None:
        self._init_state()
        self._pool.after_fork()
        if self._running:
            self._running = False
            self._timer = None
            self.start()

    def _at_exit(self, timeout: float) -> None:
        self._running = False
        self._stop.set()
        if self._series or self._retained:
            self.flush(timeout)
