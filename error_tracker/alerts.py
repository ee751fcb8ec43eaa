"""Email alerts on new errors, sent off the request path (stub: see issue #2)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import SimpleNamespace

log = logging.getLogger("monlight.error_tracker.alerts")


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    project: str
    exception_type: str
    message: str
    traceback: str


class Alerter:
    def __init__(self, config: SimpleNamespace) -> None:
        self.config = config

    @property
    def enabled(self) -> bool:
        return bool(self.config.smtp_host and self.config.alert_emails)

    def missing(self) -> str:
        return ", ".join(
            name
            for name, value in (
                ("SMTP_HOST", self.config.smtp_host),
                ("ALERT_EMAILS", self.config.alert_emails),
            )
            if not value
        )

    def notify(self, alert: Alert) -> None:
        """Queue an alert; never blocks, never raises."""

    def send_test(self) -> None:
        """Queue a synthetic alert."""

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass
