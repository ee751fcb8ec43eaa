"""`MonlightHandler`: log records at ERROR with `exc_info` become error reports."""

from __future__ import annotations

import logging

from monlight import _defaults
from monlight.error_client import ErrorClient


class MonlightHandler(logging.Handler):
    """Report `logger.exception(...)`-style records (uses the default client if none given).

    Records without an exception are ignored, as are the client's own
    (`monlight.*`) records, so a failing tracker cannot feed itself.
    """

    def __init__(self, client: ErrorClient | None = None, level: int = logging.ERROR) -> None:
        super().__init__(level)
        self.client = client

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if record.name == "monlight" or record.name.startswith("monlight."):
                return
            exc = record.exc_info[1] if record.exc_info else None
            if exc is None:
                return
            client = self.client or _defaults.get_error_client()
            if client is None:
                return
            client.capture_exception(
                exc,
                extra={
                    "logger": record.name,
                    "log_message": record.getMessage(),
                    "log_level": record.levelname,
                },
            )
        except Exception:
            self.handleError(record)
