"""Metrics Collector: counter/histogram/gauge points, rolled up per minute and hour."""
