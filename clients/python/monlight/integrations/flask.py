"""Flask integration: request metrics (same labels as FastAPI) and error reporting.

    from monlight.integrations.flask import setup_monlight
    setup_monlight(app, error_tracker_url=..., metrics_collector_url=..., api_key=...)

`endpoint` is the URL rule with Flask's `<int:id>` written `{id}`, so the
same route reads the same in every framework; the raw path when no rule matched.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from monlight.error_client import ErrorClient
from monlight.integrations._common import brace_template, record_request
from monlight.metrics_client import MetricsClient

logger = logging.getLogger(__name__)


def _endpoint(request: Any) -> str:
    rule = request.url_rule
    return brace_template(rule.rule) if rule is not None else str(request.path)


def instrument(
    app: Any,
    *,
    error_client: ErrorClient | None = None,
    metrics_client: MetricsClient | None = None,
) -> None:
    """Hook existing clients into a Flask app (either may be None)."""
    from flask import g, got_request_exception, request

    if metrics_client is not None:

        def record(status: int) -> None:
            start = g.pop("_monlight_start", None)
            if start is None:
                return
            try:
                method, endpoint = request.method, _endpoint(request)
            except Exception:
                logger.debug("recording request metrics failed", exc_info=True)
                return
            record_request(metrics_client, method, endpoint, status, time.perf_counter() - start)

        def _monlight_start() -> None:
            g._monlight_start = time.perf_counter()

        def _monlight_after(response: Any) -> Any:
            record(response.status_code)
            return response

        def _monlight_teardown(exc: BaseException | None) -> None:
            record(500)  # only when after_request did not run (an exception propagated)

        app.before_request(_monlight_start)
        app.after_request(_monlight_after)
        app.teardown_request(_monlight_teardown)

    if error_client is not None:

        def on_exception(sender: Any, exception: BaseException, **extra: Any) -> None:
            try:
                error_client.capture_exception(
                    exception,
                    request_url=request.url,
                    request_method=request.method,
                    request_headers=dict(request.headers),
                    extra={"endpoint": _endpoint(request), "status": "500"},
                )
            except Exception:
                logger.debug("reporting a Flask error failed", exc_info=True)

        got_request_exception.connect(on_exception, app, weak=False)
    app.extensions["monlight"] = {"error_client": error_client, "metrics_client": metrics_client}


def setup_monlight(
    app: Any,
    *,
    error_tracker_url: str | None = None,
    metrics_collector_url: str | None = None,
    api_key: str,
    project: str = "default",
    flush_interval: float = 10.0,
    environment: str | None = None,
) -> dict[str, Any]:
    """Create the clients (as `monlight.init` does), hook them into the app; they also
    become the process defaults."""
    import monlight

    clients = monlight.init(
        api_key=api_key,
        error_tracker_url=error_tracker_url,
        metrics_collector_url=metrics_collector_url,
        project=project,
        environment=environment,
        flush_interval=flush_interval,
    )
    instrument(app, **clients)
    return clients
