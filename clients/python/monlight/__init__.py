"""Monlight - Python client for Monlight monitoring services."""

from __future__ import annotations

from typing import Any

from monlight._defaults import clear_default_clients, set_default_clients
from monlight.decorators import capture_errors, timed
from monlight.error_client import ErrorClient
from monlight.heartbeat import (
    ApplicationHung,
    HeartbeatMonitor,
    heartbeat,
    start_heartbeat_monitor,
    stop_heartbeat_monitor,
)
from monlight.metrics_client import MetricsClient

__version__ = "0.4.0"
__all__ = [
    "ApplicationHung",
    "ErrorClient",
    "HeartbeatMonitor",
    "MetricsClient",
    "capture_errors",
    "capture_exception",
    "clear_default_clients",
    "heartbeat",
    "init",
    "set_default_clients",
    "start_heartbeat_monitor",
    "stop_heartbeat_monitor",
    "timed",
]


def init(
    *,
    api_key: str,
    error_tracker_url: str | None = None,
    metrics_collector_url: str | None = None,
    project: str = "default",
    environment: str | None = None,
    flush_interval: float = 10.0,
    **error_options: Any,
) -> dict[str, Any]:
    """Create the clients for a plain script or worker and make them the defaults.

    Returns `{"error_client": ..., "metrics_client": ...}` (None for a URL not given);
    the metrics client is started. `error_options` go to `ErrorClient` (e.g. before_send).
    """
    error_client = None
    metrics_client = None
    if error_tracker_url:
        error_client = ErrorClient(
            error_tracker_url, api_key, project=project, environment=environment, **error_options
        )
    if metrics_collector_url:
        metrics_client = MetricsClient(
            metrics_collector_url, api_key, flush_interval=flush_interval, project=project
        )
        metrics_client.start()
    set_default_clients(error_client, metrics_client)
    return {"error_client": error_client, "metrics_client": metrics_client}


def capture_exception(exc: BaseException | None = None, **context: Any) -> bool:
    """`ErrorClient.capture_exception` on the default client (False when there is none)."""
    from monlight._defaults import get_error_client

    client = get_error_client()
    return client.capture_exception(exc, **context) if client is not None else False
