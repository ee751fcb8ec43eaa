"""Error Tracker settings, declared once (see shared.config)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from error_tracker.alerts import parse_ca_file, parse_tls_setting
from shared.config import (
    Settings,
    database_path_setting,
    load,
    max_body_setting,
    parse_csv,
    parse_port,
    parse_positive_int,
    parse_str,
    rate_limit_setting,
    setting,
)
from shared.keys import parse_key_pairs


@dataclass(frozen=True, kw_only=True)
class TrackerSettings(Settings):
    database_path: str = database_path_setting("errors.db")
    rate_limit: int = rate_limit_setting(100)
    max_body_size: int = max_body_setting(262_144)
    retention_days: int = setting(
        "RETENTION_DAYS", parse_positive_int, 90, "Resolved errors older than this are deleted."
    )
    smtp_host: str = setting(
        "SMTP_HOST", parse_str, "", "SMTP server for alerts; unset turns alerts off."
    )
    smtp_port: int = setting(
        "SMTP_PORT", parse_port, 25, "465 = implicit TLS; 25/587 = STARTTLS when offered."
    )
    smtp_tls: str = setting(
        "SMTP_TLS",
        parse_tls_setting,
        "auto",
        "`auto`: implicit TLS on port 465, else STARTTLS when offered; `starttls`: require "
        "STARTTLS; `implicit`: TLS from the first byte on any port.",
    )
    smtp_ca_file: str = setting(
        "SMTP_CA_FILE",
        parse_ca_file,
        "",
        "Extra CA bundle (PEM) trusted besides the system CAs, for a private SMTP server.",
    )
    smtp_timeout: int = setting(
        "SMTP_TIMEOUT",
        parse_positive_int,
        10,
        "Seconds to wait for the SMTP server on connect and on each reply.",
    )
    smtp_username: str = setting(
        "SMTP_USERNAME", parse_str, "", "Login user; unset means no login."
    )
    smtp_password: str = setting("SMTP_PASSWORD", parse_str, "", "Login password.", secret=True)
    smtp_from: str = setting(
        "SMTP_FROM", parse_str, "errors@example.com", "Sender address of alerts."
    )
    alert_emails: tuple[str, ...] = setting(
        "ALERT_EMAILS",
        parse_csv,
        (),
        "Comma-separated recipients of new-error alerts.",
        default_doc="unset",
    )
    base_url: str = setting(
        "BASE_URL",
        parse_str,
        "",
        "Public URL of the tracker, to make alert links absolute and DSN strings point at"
        " it (unset: DSNs name the host a request came to).",
    )
    sentry_dsn_keys: tuple[tuple[str, str], ...] = setting(
        "SENTRY_DSN_KEYS",
        parse_key_pairs,
        (),
        "Sentry DSN public keys to create at start, `project:key,project2:key2` (kept once"
        " created; a revoked one stays revoked).",
        default_doc="unset",
    )


def from_env(environ: Mapping[str, str] | None = None) -> TrackerSettings:
    return load(TrackerSettings, environ)
