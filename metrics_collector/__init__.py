"""Metrics Collector: counter/histogram/gauge points, rolled up per minute and hour."""

from metrics_collector.app import SERVICE

__all__ = ["SERVICE"]
