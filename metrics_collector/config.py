"""Metrics Collector settings, declared once (see shared.config)."""

from __future__ import annotations

from types import SimpleNamespace

from shared.config import Var, common_vars, load, parse_positive_int

VARIABLES: list[Var] = [
    *common_vars(db_file="metrics.db", rate_limit=200, max_body=524_288),
    Var(
        "RETENTION_RAW",
        parse_positive_int,
        1,
        "Hours raw points are kept once aggregated (never longer than the minute tier).",
    ),
    Var("RETENTION_MINUTE", parse_positive_int, 24, "Hours per-minute aggregates are kept."),
    Var("RETENTION_HOURLY", parse_positive_int, 30, "Days per-hour aggregates are kept."),
    Var(
        "AGGREGATION_INTERVAL",
        parse_positive_int,
        60,
        "Seconds between aggregation (and retention) runs.",
    ),
]


def from_env(environ: dict[str, str] | None = None) -> SimpleNamespace:
    return load(VARIABLES, environ)
