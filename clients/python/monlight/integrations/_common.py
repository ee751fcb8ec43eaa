"""Helpers the framework integrations share."""

from __future__ import annotations

import logging
import re
from typing import Any

logger = logging.getLogger("monlight.integrations")

_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def brace_template(rule: str) -> str:
    """`/items/<int:item_id>` (Flask, Django) → `/items/{item_id}`, as FastAPI names it."""
    path = _PARAM.sub(r"{\1}", rule)
    return path if path.startswith("/") else "/" + path


def record_request(
    metrics_client: Any, method: str, endpoint: str, status: int, seconds: float
) -> None:
    """The two request metrics every integration emits, labelled alike; never raises."""
    try:
        labels = {"method": method, "endpoint": endpoint, "status": str(status)}
        metrics_client.counter("http_requests_total", labels=labels)
        metrics_client.histogram("http_request_duration_seconds", value=seconds, labels=labels)
    except Exception:
        logger.debug("recording request metrics failed", exc_info=True)
