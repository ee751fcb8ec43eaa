"""The process-wide default clients used by decorators, the logging handler and heartbeat."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monlight.error_client import ErrorClient
    from monlight.metrics_client import MetricsClient

_error_client: ErrorClient | None = None
_metrics_client: MetricsClient | None = None


def set_default_clients(
    error_client: ErrorClient | None = None, metrics_client: MetricsClient | None = None
) -> None:
    """Make these the clients that `capture_errors`, `timed`, ... use when given none."""
    global _error_client, _metrics_client
    if error_client is not None:
        _error_client = error_client
    if metrics_client is not None:
        _metrics_client = metrics_client


def clear_default_clients() -> None:
    global _error_client, _metrics_client
    _error_client = None
    _metrics_client = None


def get_error_client() -> ErrorClient | None:
    return _error_client


def get_metrics_client() -> MetricsClient | None:
    return _metrics_client
