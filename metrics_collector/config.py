"""Metrics Collector settings, declared once (see shared.config)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.config import (
    Settings,
    database_path_setting,
    load,
    max_body_setting,
    parse_non_negative_int,
    parse_positive_int,
    rate_limit_setting,
    setting,
)


@dataclass(frozen=True, kw_only=True)
class CollectorSettings(Settings):
    database_path: str = database_path_setting("metrics.db")
    rate_limit: int = rate_limit_setting(200)
    max_body_size: int = max_body_setting(4_194_304)
    max_batch_points: int = setting(
        "MAX_BATCH_POINTS",
        parse_positive_int,
        10_000,
        "Points one batch may hold; a larger batch is refused whole (400), logged and "
        "counted in `/health` `rejected_batches_24h`.",
    )
    max_series: int = setting(
        "MAX_SERIES",
        parse_non_negative_int,
        100_000,
        "Distinct series (name, labels, project, type) kept at most; a batch that would "
        "add more is refused whole (400 naming MAX_SERIES). `0` means no bound.",
    )
    retention_raw: int = setting(
        "RETENTION_RAW",
        parse_positive_int,
        1,
        "Hours raw points are kept once aggregated (never longer than the minute tier).",
    )
    retention_minute: int = setting(
        "RETENTION_MINUTE", parse_positive_int, 24, "Hours per-minute aggregates are kept."
    )
    retention_hourly: int = setting(
        "RETENTION_HOURLY", parse_positive_int, 30, "Days per-hour aggregates are kept."
    )
    aggregation_interval: int = setting(
        "AGGREGATION_INTERVAL",
        parse_positive_int,
        60,
        "Seconds between aggregation (and retention) runs.",
    )


def from_env(environ: Mapping[str, str] | None = None) -> CollectorSettings:
    return load(CollectorSettings, environ)
