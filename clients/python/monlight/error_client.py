"""Error tracking client for the Monlight Error Tracker.

`capture_exception` only enqueues: a background thread formats and sends,
with retries, so reporting an error never slows or breaks the request that
hit it. `report_error` / `report_error_sync` are the 0.3.0 calls: one
immediate attempt that the caller chose to wait for.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import traceback as tb_module
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx

from monlight._core import HttpPool, RetryPolicy, is_retryable_status, register, retry_after_seconds

logger = logging.getLogger(__name__)

# Headers that should never be sent to the error tracker (PII/security)
_SENSITIVE_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "x-api-key"})

# The tracker's field limits (error_tracker spec): longer values would be a 400.
_MAX_TYPE = 200
_MAX_URL = 500
_MAX_METHOD = 10
_MAX_USER = 100
_MAX_MESSAGE = 8_000
_MAX_TRACEBACK = 60_000  # the tracker takes 256 KiB bodies; headers and extra need room too

#: A report as it leaves the process; `before_send` may edit it or return None to drop it.
Payload = dict[str, Any]
BeforeSend = Callable[[Payload], "Payload | None"]

_CONTEXT_KEYS = ("request_url", "request_method", "request_headers", "user_id", "extra")


def _clip_traceback(text: str) -> str:
    """Keep the head and, above all, the tail: the deepest frame is what groups the error."""
    if len(text) <= _MAX_TRACEBACK:
        return text
    head = _MAX_TRACEBACK // 4
    tail = _MAX_TRACEBACK - head - 40
    return f"{text[:head]}\n... ({len(text) - head - tail} chars cut) ...\n{text[-tail:]}"


class ErrorClient:
    """Client for reporting errors to Monlight Error Tracker.

    Args:
        base_url: Base URL of the Error Tracker (e.g. "http://error-tracker:8000").
        api_key: API key for authentication.
        project: Project identifier.
        timeout: HTTP timeout per attempt, seconds.
        excluded_headers: Additional header names to strip from reports (any case).
        environment: Sent with every report (the tracker keeps it in `extra`).
        before_send: Called with each payload; return it (edited) or None to drop it.
        max_queue_size: Reports waiting for the worker; beyond it new ones are dropped.
        max_retries: Further attempts after a connection error, 5xx or 429.
        backoff_base, backoff_max: Exponential backoff bounds, seconds.
        transport: An httpx transport (tests, `monlight.testing`).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        project: str = "default",
        timeout: float = 5.0,
        excluded_headers: set[str] | None = None,
        *,
        environment: str | None = None,
        before_send: BeforeSend | None = None,
        max_queue_size: int = 1000,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.project = project
        self.timeout = timeout
        self.environment = environment
        self.before_send = before_send
        self.max_queue_size = max_queue_size
        self.retry = RetryPolicy(max_retries=max_retries, base=backoff_base, cap=backoff_max)
        self._excluded_headers = _SENSITIVE_HEADERS | {
            h.lower() for h in (excluded_headers or set())
        }
        self._url = f"{self.base_url}/api/errors"
        self._headers = {"X-API-Key": api_key}
        self._pool = HttpPool(timeout, transport)
        self._stats = {"sent": 0, "dropped": 0, "failed": 0, "filtered": 0, "retried": 0}
        self._init_worker_state()
        register(self)

    def _init_worker_state(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[tuple[BaseException, dict[str, Any], Callable[[], None] | None]] = (
            deque()
        )
        self._inflight = 0
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        self._closed = False
        self._failures = 0  # consecutive failed attempts: backoff continues across reports

    # -- payload -----------------------------------------------------------------

    def _filter_headers(self, headers: Any) -> dict[str, str]:
        """Remove sensitive headers (case-insensitively)."""
        items = headers.items() if hasattr(headers, "items") else headers
        return {str(k): str(v) for k, v in items if str(k).lower() not in self._excluded_headers}

    def _build_payload(
        self,
        exception: BaseException,
        request_context: dict[str, Any] | None = None,
        traceback_text: str | None = None,
    ) -> dict[str, Any]:
        """The JSON body of POST /api/errors, clipped to the tracker's limits."""
        if traceback_text is None:
            traceback_text = "".join(
                tb_module.format_exception(type(exception), exception, exception.__traceback__)
            )
        payload: dict[str, Any] = {
            "project": self.project,
            "exception_type": type(exception).__qualname__[:_MAX_TYPE],
            "message": str(exception)[:_MAX_MESSAGE],
            "traceback": _clip_traceback(traceback_text),
        }
        if request_context:
            if "request_url" in request_context:
                payload["request_url"] = str(request_context["request_url"])[:_MAX_URL]
            if "request_method" in request_context:
                payload["request_method"] = str(request_context["request_method"])[:_MAX_METHOD]
            if "request_headers" in request_context:
                payload["request_headers"] = self._filter_headers(
                    request_context["request_headers"]
                )
            if "user_id" in request_context:
                payload["user_id"] = str(request_context["user_id"])[:_MAX_USER]
            if "extra" in request_context:
                payload["extra"] = request_context["extra"]
        if self.environment is not None:
            payload["environment"] = self.environment
        return payload

    def _prepare(
        self, exception: BaseException, context: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """Build the payload and pass it through before_send (None: dropped by the hook)."""
        context = context or {}
        payload = self._build_payload(exception, context, context.get("_traceback"))
        if self.before_send is not None:
            try:
                result = self.before_send(payload)
            except Exception:
                logger.warning("before_send raised; the report is sent unchanged", exc_info=True)
                return payload
            if result is None:
                with self._cond:
                    self._stats["filtered"] += 1
                return None
            payload = result
        return payload

    # -- non-blocking capture ----------------------------------------------------------

    def capture_exception(self, exc: BaseException | None = None, **context: Any) -> bool:
        """Queue an exception (default: the one being handled) for the background sender.

        Returns at once; True when queued, False when there was nothing to
        report or the queue was full (counted in `get_stats()["dropped"]`).
        Context keys: request_url, request_method, request_headers, user_id, extra.
        """
        if exc is None:
            exc = sys.exc_info()[1]
            if exc is None:
                return False
        return self._enqueue(exc, context, None)

    def _enqueue(
        self, exc: BaseException, context: dict[str, Any], on_done: Callable[[], None] | None
    ) -> bool:
        """Queue for the worker; `on_done` runs in the worker once the report is settled."""
        try:
            with self._cond:
                if self._closed or len(self._queue) >= self.max_queue_size:
                    self._stats["dropped"] += 1
                    return False
                self._queue.append((exc, context, on_done))
                worker = self._worker
                if worker is None or not worker.is_alive():
                    self._start_worker_locked()
                self._cond.notify()
            return True
        except Exception:
            logger.debug("capture_exception failed", exc_info=True)
            return False

    def _start_worker_locked(self) -> None:
        self._worker = threading.Thread(target=self._run, name="monlight-error-sender", daemon=True)
        self._worker.start()

    def _run(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while not self._queue and not self._stop.is_set():
                    cond.wait()
                if not self._queue:
                    return
                exc, context, on_done = self._queue.popleft()
                self._inflight += 1
            try:
                self._deliver(exc, context)
            except Exception:
                logger.debug("monlight error sender: unexpected failure", exc_info=True)
            finally:
                if on_done is not None:
                    with contextlib.suppress(Exception):
                        on_done()
                with cond:
                    self._inflight -= 1
                    cond.notify_all()

    def _deliver(self, exc: BaseException, context: dict[str, Any]) -> None:
        payload = self._prepare(exc, context)
        if payload is None:
            return
        attempts = 0
        while True:
            outcome, retry_after, detail = self._post_once(payload)
            if outcome == "ok":
                with self._cond:
                    self._stats["sent"] += 1
                self._failures = 0
                return
            if outcome == "fail":
                with self._cond:
                    self._stats["failed"] += 1
                logger.warning("Error tracker refused a report: %s", detail)
                return
            attempts += 1
            self._failures += 1
            if attempts > self.retry.max_retries or self._stop.is_set():
                with self._cond:
                    self._stats["failed"] += 1
                logger.warning(
                    "Failed to report error to error tracker after %d attempts: %s",
                    attempts,
                    detail,
                )
                return
            with self._cond:
                self._stats["retried"] += 1
            self._stop.wait(self.retry.delay(self._failures, retry_after))

    def _post_once(self, payload: dict[str, Any]) -> tuple[str, float | None, str]:
        """One attempt: ("ok" | "retry" | "fail", Retry-After seconds, what went wrong)."""
        try:
            response = self._pool.sync().post(self._url, json=payload, headers=self._headers)
        except httpx.HTTPError as exc:
            return "retry", None, f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a bad payload (not JSON-serialisable) will not improve
            return "fail", None, f"{type(exc).__name__}: {exc}"
        if response.status_code in (200, 201):
            return "ok", None, ""
        detail = f"status {response.status_code}: {response.text[:200]}"
        if is_retryable_status(response.status_code):
            return "retry", retry_after_seconds(response), detail
        return "fail", None, detail

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued report is sent or given up; False on timeout."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if self._queue and (self._worker is None or not self._worker.is_alive()):
                if self._stop.is_set():
                    return False
                self._start_worker_locked()
            while self._queue or self._inflight:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def close(self, timeout: float | None = 2.0) -> None:
        """Drain for up to `timeout`, then stop the worker and close connections."""
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._stop.set()
            self._cond.notify_all()
        self._pool.close()

    shutdown = close

    def get_stats(self) -> dict[str, int]:
        """Counts since start: sent, dropped (queue full), queued, failed, filtered, retried."""
        with self._cond:
            stats = dict(self._stats)
            stats["queued"] = len(self._queue) + self._inflight
        return stats

    def _after_fork(self) -> None:
        self._init_worker_state()
        self._pool.after_fork()

    def _at_exit(self, timeout: float) -> None:
        if self._queue or self._inflight:
            self.flush(timeout)

    # -- 0.3.0 explicit calls ----------------------------------------------------------

    async def report_error(
        self,
        exception: BaseException,
        request_context: dict[str, Any] | None = None,
    ) -> None:
        """Send one report now (one attempt, awaited). Failures are logged, never raised."""
        try:
            payload = self._prepare(exception, request_context)
            if payload is None:
                return
            response = await self._pool.async_().post(
                self._url, json=payload, headers=self._headers
            )
            self._account(response)
        except Exception:
            self._count("failed")
            logger.warning("Failed to report error to error tracker", exc_info=True)

    def report_error_sync(
        self,
        exception: BaseException,
        request_context: dict[str, Any] | None = None,
    ) -> None:
        """Synchronous `report_error`: one attempt, blocking. Never raises."""
        try:
            payload = self._prepare(exception, request_context)
            if payload is None:
                return
            response = self._pool.sync().post(self._url, json=payload, headers=self._headers)
            self._account(response)
        except Exception:
            self._count("failed")
            logger.warning("Failed to report error to error tracker", exc_info=True)

    def _account(self, response: httpx.Response) -> None:
        if response.status_code in (200, 201):
            self._count("sent")
            return
        self._count("failed")
        logger.warning(
            "Error tracker returned status %d: %s", response.status_code, response.text[:200]
        )

    def _count(self, key: str) -> None:
        with self._cond:
            self._stats[key] += 1

    def __repr__(self) -> str:
        return f"ErrorClient({self.base_url!r}, project={self.project!r}, pid={os.getpid()})"
