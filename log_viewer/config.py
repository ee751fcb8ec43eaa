"""Log Viewer settings, declared once (see shared.config)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.config import (
    Settings,
    database_path_setting,
    load,
    max_body_setting,
    parse_csv,
    parse_non_empty,
    parse_positive_int,
    rate_limit_setting,
    setting,
)


@dataclass(frozen=True, kw_only=True)
class LogSettings(Settings):
    database_path: str = database_path_setting("logs.db")
    rate_limit: int = rate_limit_setting(60)
    max_body_size: int = max_body_setting(65_536)
    log_sources: str = setting(
        "LOG_SOURCES",
        parse_non_empty,
        "/var/lib/docker/containers",
        "Docker's containers directory: `<id>/<id>-json.log` and `<id>/config.v2.json`"
        " are read from it (mount it read-only).",
    )
    containers: tuple[str, ...] = setting(
        "CONTAINERS",
        parse_csv,
        (),
        "Containers to read, by name or `*` glob (`web,worker-*`); empty reads all.",
        default_doc="(all)",
    )
    max_entries: int = setting(
        "MAX_ENTRIES",
        parse_positive_int,
        100_000,
        "Log entries kept; the oldest go first.",
    )
    poll_interval: int = setting(
        "POLL_INTERVAL", parse_positive_int, 2, "Seconds between reads of the log files."
    )
    tail_buffer: int = setting(
        "TAIL_BUFFER",
        parse_positive_int,
        65_536,
        "Bytes read back from the end of a log file seen for the first time.",
    )


def from_env(environ: Mapping[str, str] | None = None) -> LogSettings:
    return load(LogSettings, environ)
