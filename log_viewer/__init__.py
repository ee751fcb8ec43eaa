"""Log Viewer: Docker json-file logs from disk, FTS5 search, live tail (being built, #9)."""
