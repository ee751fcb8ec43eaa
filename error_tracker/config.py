"""Error Tracker settings, declared once (see shared.config)."""

from __future__ import annotations

from types import SimpleNamespace

from error_tracker.alerts import parse_ca_file, parse_tls_setting
from shared.config import (
    Var,
    common_vars,
    load,
    parse_csv,
    parse_port,
    parse_positive_int,
    parse_str,
)

VARIABLES: list[Var] = [
    *common_vars(db_file="errors.db", rate_limit=100, max_body=262_144),
    Var("RETENTION_DAYS", parse_positive_int, 90, "Resolved errors older than this are deleted."),
    Var("SMTP_HOST", parse_str, "", "SMTP server for alerts; unset turns alerts off."),
    Var("SMTP_PORT", parse_port, 25, "465 = implicit TLS; 25/587 = STARTTLS when offered."),
    Var(
        "SMTP_TLS",
        parse_tls_setting,
        "auto",
        "`auto`: implicit TLS on port 465, else STARTTLS when offered; `starttls`: require "
        "STARTTLS; `implicit`: TLS from the first byte on any port.",
    ),
    Var(
        "SMTP_CA_FILE",
        parse_ca_file,
        "",
        "Extra CA bundle (PEM) trusted besides the system CAs, for a private SMTP server.",
    ),
    Var(
        "SMTP_TIMEOUT",
        parse_positive_int,
        10,
        "Seconds to wait for the SMTP server on connect and on each reply.",
    ),
    Var("SMTP_USERNAME", parse_str, "", "Login user; unset means no login."),
    Var("SMTP_PASSWORD", parse_str, "", "Login password.", secret=True),
    Var("SMTP_FROM", parse_str, "errors@example.com", "Sender address of alerts."),
    Var(
        "ALERT_EMAILS",
        parse_csv,
        (),
        "Comma-separated recipients of new-error alerts.",
        default_doc="unset",
    ),
    Var("BASE_URL", parse_str, "", "Public URL of the tracker, to make alert links absolute."),
]


def from_env(environ: dict[str, str] | None = None) -> SimpleNamespace:
    return load(VARIABLES, environ)
