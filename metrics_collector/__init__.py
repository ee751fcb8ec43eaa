"""Metrics Collector: counter/histogram/gauge points, rolled up per minute and hour."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.entry import lazy_service

if TYPE_CHECKING:
    from metrics_collector.app import SERVICE

__all__ = ["SERVICE"]
#: `SERVICE` is imported on first use, so `--healthcheck` stays light (shared.entry).
__getattr__ = lazy_service("metrics_collector.app")
