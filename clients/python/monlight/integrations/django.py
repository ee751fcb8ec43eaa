"""Django integration: a middleware for request metrics and error reporting.

    MIDDLEWARE = ["monlight.integrations.django.MonlightMiddleware", ...]  # first
    MONLIGHT = {"api_key": ..., "error_tracker_url": ..., "metrics_collector_url": ...,
                "project": "shop"}  # any keyword of monlight.init()

Without a MONLIGHT setting the middleware uses the process's default clients
(`monlight.init`, `monlight.testing.Recorder`). Labels as in the FastAPI
integration; `endpoint` is the matched route with `<int:id>` written `{id}`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import monlight
from monlight import _defaults
from monlight.integrations._common import brace_template, record_request

logger = logging.getLogger(__name__)

_init_lock = threading.Lock()
_initialised = False


def _init_from_settings() -> None:
    """Create the clients from settings.MONLIGHT once per process."""
    global _initialised
    with _init_lock:
        if _initialised:
            return
        _initialised = True
        from django.conf import settings  # type: ignore[import-untyped]

        options = getattr(settings, "MONLIGHT", None)
        if options:
            monlight.init(**options)


def _endpoint(request: Any) -> str:
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", None)
    if route:
        return brace_template(str(route))
    return str(request.path)


class MonlightMiddleware:
    """Times each request and reports exceptions raised by views."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        _init_from_settings()

    def __call__(self, request: Any) -> Any:
        start = time.perf_counter()
        try:
            response = self.get_response(request)
        except Exception:
            self._record(request, 500, start)
            raise
        self._record(request, response.status_code, start)
        return response

    def process_exception(self, request: Any, exception: Exception) -> None:
        client = _defaults.get_error_client()
        if client is None:
            return None
        try:
            context: dict[str, Any] = {
                "request_url": request.build_absolute_uri(),
                "request_method": request.method,
                "request_headers": dict(request.headers),
                "extra": {"endpoint": _endpoint(request), "status": "500"},
            }
            user_id = _user_id(request)
            if user_id is not None:
                context["user_id"] = user_id
            client.capture_exception(exception, **context)
        except Exception:
            logger.debug("reporting a Django error failed", exc_info=True)
        return None

    @staticmethod
    def _record(request: Any, status: int, start: float) -> None:
        client = _defaults.get_metrics_client()
        if client is None:
            return
        try:
            method, endpoint = request.method, _endpoint(request)
        except Exception:
            logger.debug("recording request metrics failed", exc_info=True)
            return
        record_request(client, method, endpoint, status, time.perf_counter() - start)


def _user_id(request: Any) -> str | None:
    user = getattr(request, "user", None)
    if user is not None and getattr(user, "is_authenticated", False):
        return str(user.pk)
    return None
