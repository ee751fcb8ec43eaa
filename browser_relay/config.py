"""Browser Relay settings, declared once (see shared.config)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from shared.config import (
    Settings,
    api_key_setting,
    database_path_setting,
    load,
    max_body_setting,
    parse_csv,
    parse_non_empty,
    parse_non_negative_int,
    parse_positive_int,
    setting,
)
from shared.keys import parse_key_pairs

#: Largest source map upload (its route's own body limit, whatever MAX_BODY_SIZE says).
MAX_MAP_BYTES = 5 * 1024 * 1024
MAX_PROJECT = 100


def parse_url(raw: str) -> str:
    url = raw.strip().rstrip("/")
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url):
        raise ValueError("expected an http:// or https:// URL such as http://error-tracker:8000")
    return url


def parse_origins(raw: str) -> tuple[str, ...]:
    """Exact origins (`https://app.example.com`); a path or a trailing slash never matches
    what a browser sends in `Origin`, so it is refused rather than silently ignored."""
    origins = parse_csv(raw)
    for origin in origins:
        if origin != "null" and not re.fullmatch(r"https?://[^\s/]+", origin):
            raise ValueError(
                f"expected comma-separated origins such as https://app.example.com"
                f" (scheme and host, no path): {origin}"
            )
    return origins


@dataclass(frozen=True, kw_only=True)
class RelaySettings(Settings):
    api_key: str = api_key_setting(
        "ADMIN_API_KEY",
        "Key of the admin routes (`/api/dsn-keys`, `/api/source-maps`) as `X-API-Key`;"
        " browsers send DSN keys instead.",
    )
    database_path: str = database_path_setting("browser-relay.db")
    rate_limit: int = setting(
        "RATE_LIMIT",
        parse_non_negative_int,
        300,
        "Browser requests per minute per DSN key, counted after the key is checked (junk"
        " keys never use up a real key's budget; they are limited per client IP at the"
        " same rate, as are admin requests without the admin key). `0` turns it off.",
    )
    max_body_size: int = max_body_setting(65_536)
    error_tracker_url: str = setting(
        "ERROR_TRACKER_URL", parse_url, help="Where browser errors go (`http://host:port`)."
    )
    error_tracker_api_key: str = setting(
        "ERROR_TRACKER_API_KEY", parse_non_empty, help="The Error Tracker's API_KEY.", secret=True
    )
    metrics_collector_url: str = setting(
        "METRICS_COLLECTOR_URL", parse_url, help="Where browser metrics go (`http://host:port`)."
    )
    metrics_collector_api_key: str = setting(
        "METRICS_COLLECTOR_API_KEY",
        parse_non_empty,
        help="The Metrics Collector's API_KEY.",
        secret=True,
    )
    cors_origins: tuple[str, ...] = setting(
        "CORS_ORIGINS",
        parse_origins,
        (),
        "Comma-separated origins whose pages may call the browser routes"
        " (`https://app.example.com`, exact and case-sensitive); unset sends no CORS headers.",
        default_doc="unset",
    )
    dsn_keys: tuple[tuple[str, str], ...] = setting(
        "DSN_KEYS",
        parse_key_pairs,
        (),
        "`project:key,project2:key2`: DSN keys created at start when absent.",
        default_doc="unset",
    )
    retention_days: int = setting(
        "RETENTION_DAYS",
        parse_positive_int,
        90,
        "Source maps uploaded longer ago than this are deleted.",
    )


def from_env(environ: Mapping[str, str] | None = None) -> RelaySettings:
    return load(RelaySettings, environ)
