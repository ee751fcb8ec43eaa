"""Log Viewer: Docker json-file logs read from disk, FTS5 search, live tail."""

from log_viewer.app import SERVICE

__all__ = ["SERVICE"]
