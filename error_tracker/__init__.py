"""Error Tracker: exceptions grouped by fingerprint, occurrences, resolve/reopen, alerts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.entry import lazy_service

if TYPE_CHECKING:
    from error_tracker.app import SERVICE

__all__ = ["SERVICE"]
#: `SERVICE` is imported on first use, so `--healthcheck` stays light (shared.entry).
__getattr__ = lazy_service("error_tracker.app")
