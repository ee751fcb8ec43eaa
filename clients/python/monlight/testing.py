"""A recorder for your own tests: real clients, real payloads, no network.

from monlight.testing import Recorder

def test_checkout_reports_the_error():
    with Recorder(project="shop") as rec:   # installed as the default clients
        app_code_that_fails()
    assert rec.errors[0]["exception_type"] == "PaymentDeclined"
    assert rec.metric_total("http_requests_total", status="500") == 1
"""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx

from monlight import _defaults
from monlight.error_client import BeforeSend, ErrorClient
from monlight.metrics_client import MetricsClient


class Recorder:
    """Clients whose transport records what would be sent (after before_send, headers stripped)."""

    def __init__(
        self,
        project: str = "test",
        *,
        environment: str | None = None,
        before_send: BeforeSend | None = None,
        excluded_headers: set[str] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._errors: list[dict[str, Any]] = []
        self._metrics: list[dict[str, Any]] = []
        transport = httpx.MockTransport(self._handle)
        self.error_client = ErrorClient(
            "http://monlight.test",
            "recorder",
            project=project,
            excluded_headers=excluded_headers,
            environment=environment,
            before_send=before_send,
            transport=transport,
        )
        self.metrics_client = MetricsClient(
            "http://monlight.test", "recorder", project=project, transport=transport
        )
        self._previous: tuple[Any, Any] | None = None

    def _handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        with self._lock:
            if request.url.path == "/api/errors":
                self._errors.append(body)
                return httpx.Response(201, json={"status": "created", "id": len(self._errors)})
            self._metrics.extend(body)
        return httpx.Response(202, json={"status": "accepted", "count": len(body)})

    @property
    def errors(self) -> list[dict[str, Any]]:
        """Every error report so far (waits for the background sender first)."""
        self.error_client.flush(5.0)
        with self._lock:
            return list(self._errors)

    @property
    def metrics(self) -> list[dict[str, Any]]:
        """Every metric point so far, as sent (aggregated per flush; flushes first)."""
        self.metrics_client.flush()
        with self._lock:
            return list(self._metrics)

    def metric_total(self, name: str, **labels: str) -> float:
        """Sum of the values of `name` whose labels include `labels`."""
        return float(
            sum(
                p["value"]
                for p in self.metrics
                if p["name"] == name and labels.items() <= (p.get("labels") or {}).items()
            )
        )

    def clear(self) -> None:
        self.error_client.flush(5.0)
        self.metrics_client.flush()
        with self._lock:
            self._errors.clear()
            self._metrics.clear()

    def install(self) -> Recorder:
        """Make the recorder's clients the defaults (decorators, logging handler, heartbeat)."""
        self._previous = (_defaults.get_error_client(), _defaults.get_metrics_client())
        _defaults._error_client = self.error_client
        _defaults._metrics_client = self.metrics_client
        return self

    def uninstall(self) -> None:
        if self._previous is not None:
            _defaults._error_client, _defaults._metrics_client = self._previous
            self._previous = None

    def __enter__(self) -> Recorder:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()
