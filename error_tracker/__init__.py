"""Error Tracker: exceptions grouped by fingerprint, occurrences, resolve/reopen, alerts."""

from error_tracker.app import SERVICE

__all__ = ["SERVICE"]
