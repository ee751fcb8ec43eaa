"""Configuration as data: each service declares its variables once.

The same table drives parsing, the one-line start-up errors and
`docs/configuration.md`, so the three can never disagree.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

LOG_LEVELS = ("error", "warn", "info", "debug")


class ConfigError(Exception):
    """A missing or malformed variable; the message names it in one line."""


def parse_int(raw: str) -> int:
    try:
        return int(raw.strip(), 10)
    except ValueError:
        raise ValueError("expected an integer") from None


def parse_non_negative_int(raw: str) -> int:
    value = parse_int(raw)
    if value < 0:
        raise ValueError("expected an integer >= 0")
    return value


def parse_positive_int(raw: str) -> int:
    value = parse_int(raw)
    if value <= 0:
        raise ValueError("expected an integer > 0")
    return value


def parse_port(raw: str) -> int:
    value = parse_int(raw)
    if not 0 <= value <= 65535:
        raise ValueError("expected a port number 0..65535")
    return value


def parse_str(raw: str) -> str:
    return raw


def parse_non_empty(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw


def parse_log_level(raw: str) -> str:
    value = raw.strip().lower()
    if value == "warning":
        value = "warn"
    if value not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
    return value


def parse_csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


@dataclass(frozen=True)
class Var:
    """One environment variable: name, parser, default (None = unset) and help."""

    name: str
    parse: Callable[[str], Any]
    default: Any = None
    help: str = ""
    required: bool = False
    secret: bool = False
    #: How the default reads in docs when it is not a plain value.
    default_doc: str | None = None

    @property
    def attr(self) -> str:
        return self.name.lower()


def common_vars(
    *, db_file: str, rate_limit: int, max_body: int, api_key_required: bool = True
) -> list[Var]:
    """The variables every service shares, with that service's defaults."""
    out = [
        Var("HOST", parse_non_empty, "0.0.0.0", "Address to listen on."),
        Var("PORT", parse_port, 8000, "Port to listen on."),
        Var("LOG_LEVEL", parse_log_level, "info", "`error`, `warn`, `info` or `debug`."),
        Var(
            "DATABASE_PATH",
            parse_non_empty,
            f"./data/{db_file}",
            "SQLite database file; its directory is created if missing.",
        ),
        Var(
            "RATE_LIMIT",
            parse_non_negative_int,
            rate_limit,
            "Requests per minute per client on `/api/*`; `0` turns limiting off.",
        ),
        Var(
            "MAX_BODY_SIZE",
            parse_positive_int,
            max_body,
            "Largest request body in bytes; larger ones get 413.",
        ),
    ]
    if api_key_required:
        out.insert(
            0,
            Var(
                "API_KEY",
                parse_non_empty,
                None,
                "Key every `/api/*` request must send as `X-API-Key` (or `?api_key=`).",
                required=True,
                secret=True,
            ),
        )
    return out


def load(variables: Sequence[Var], environ: Mapping[str, str] | None = None) -> SimpleNamespace:
    """Read every variable; raise ConfigError naming the first bad one."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for var in variables:
        raw = env.get(var.name)
        if raw is None or (raw == "" and not var.required and var.default is not None):
            if var.required:
                raise ConfigError(f"{var.name} is required but not set")
            values[var.attr] = var.default
            continue
        try:
            values[var.attr] = var.parse(raw)
        except ValueError as exc:
            shown = "***" if var.secret else repr(raw)
            raise ConfigError(f"{var.name}={shown} is invalid: {exc}") from None
    return SimpleNamespace(**values)


def markdown_table(variables: Sequence[Var]) -> str:
    """The configuration table for the docs, straight from the declarations."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for var in variables:
        if var.required:
            default = "**required**"
        elif var.default_doc is not None:
            default = var.default_doc
        elif var.default is None or var.default == "":
            default = "unset"
        else:
            default = f"`{var.default}`"
        rows.append(f"| `{var.name}` | {default} | {var.help} |")
    return "\n".join(rows)
