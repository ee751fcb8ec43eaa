"""Configuration as data: each service declares its variables once.

The same table drives parsing, the one-line start-up errors and
`docs/configuration.md`, so the three can never disagree.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from ipaddress import IPv4Network, IPv6Network
from typing import Any, TypeVar

from shared.db import DEFAULT_SYNCHRONOUS, SYNCHRONOUS_LEVELS
from shared.middleware import parse_trusted_proxies
from shared.validate import ascii_int

LOG_LEVELS = ("error", "warn", "info", "debug")


class ConfigError(Exception):
    """A missing or malformed variable; the message names it in one line."""


def parse_int(raw: str) -> int:
    try:
        return ascii_int(raw.strip())
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


_REQUIRED: Any = object()
_VAR = "monlight.var"


def setting(
    name: str,
    parse: Callable[[str], Any],
    default: Any = _REQUIRED,
    help: str = "",
    *,
    secret: bool = False,
    default_doc: str | None = None,
) -> Any:
    """A settings field read from the environment variable `name`.

    Without a default the variable is required. The declaration is the only
    place a default lives: parsing, the start-up errors and the docs read it.
    """
    required = default is _REQUIRED
    var = Var(
        name,
        parse,
        None if required else default,
        help,
        required=required,
        secret=secret,
        default_doc=default_doc,
    )
    if required:
        return field(metadata={_VAR: var})
    return field(default=default, metadata={_VAR: var})


def parse_synchronous(raw: str) -> str:
    value = raw.strip().upper()
    if value not in SYNCHRONOUS_LEVELS:
        raise ValueError(f"expected one of {', '.join(SYNCHRONOUS_LEVELS)}")
    return value


# The common fields, one constructor each so a service can restate a default
# (its database file, its rate and body limits) without restating the rest.


def api_key_setting(
    name: str = "API_KEY",
    help: str = "Key every `/api/*` request must send as `X-API-Key` (or `?api_key=`).",
) -> Any:
    return setting(name, parse_non_empty, help=help, secret=True)


def database_path_setting(db_file: str) -> Any:
    return setting(
        "DATABASE_PATH",
        parse_non_empty,
        f"./data/{db_file}",
        "SQLite database file; its directory is created if missing.",
    )


def rate_limit_setting(default: int) -> Any:
    return setting(
        "RATE_LIMIT",
        parse_non_negative_int,
        default,
        "Requests per minute per client IP on `/api/*` **without a valid key** (floods, key "
        "guessing); requests with the key never count. `0` turns it off.",
    )


def max_body_setting(default: int) -> Any:
    return setting(
        "MAX_BODY_SIZE",
        parse_positive_int,
        default,
        "Largest request body in bytes; larger ones get 413.",
    )


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What every service reads from its environment; each service subclasses it.

    A subclass restates `database_path`, `rate_limit` and `max_body_size` with its
    own defaults (the `*_setting` constructors) and adds its own fields with
    `setting(...)`. Instances are frozen: what was read at start-up is what runs.
    """

    api_key: str = api_key_setting()
    host: str = setting("HOST", parse_non_empty, "0.0.0.0", "Address to listen on.")
    port: int = setting("PORT", parse_port, 8000, "Port to listen on.")
    log_level: str = setting(
        "LOG_LEVEL", parse_log_level, "info", "`error`, `warn`, `info` or `debug`."
    )
    database_path: str = setting("DATABASE_PATH", parse_non_empty, help="SQLite database file.")
    rate_limit: int = rate_limit_setting(60)
    key_rate_limit: int = setting(
        "KEY_RATE_LIMIT",
        parse_non_negative_int,
        0,
        "Requests per minute per API key; `0` (default) means no limit beyond the "
        "writer's backpressure (503 + `Retry-After` when its queue is full).",
    )
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = setting(
        "TRUSTED_PROXIES",
        parse_trusted_proxies,
        (),
        "Comma-separated CIDRs of reverse proxies whose `X-Forwarded-For` names the "
        "client for `RATE_LIMIT` (the right-most untrusted entry counts). Unset: the "
        "socket peer is the client and the header is ignored.",
        default_doc="unset",
    )
    max_body_size: int = max_body_setting(65_536)
    max_connections: int = setting(
        "MAX_CONNECTIONS",
        parse_non_negative_int,
        1000,
        "Open connections (and requests in progress) past which new requests get 503; "
        "`0` means no bound. The request head is limited to 16 KiB (431), a head must "
        "arrive within 10 s and a body must not pause for 30 s.",
    )
    sqlite_synchronous: str = setting(
        "SQLITE_SYNCHRONOUS",
        parse_synchronous,
        DEFAULT_SYNCHRONOUS,
        "`FULL`: an acknowledged write survives power loss (one fsync per group "
        "commit). `NORMAL`: it survives a crash or `kill -9` of the service, but the "
        "last commits may be lost if the machine loses power.",
    )


S = TypeVar("S", bound=Settings)


def variables(settings: type[Settings]) -> list[tuple[str, Var]]:
    """(attribute, variable) of every field, in declaration order."""
    return [(f.name, f.metadata[_VAR]) for f in fields(settings) if _VAR in f.metadata]


def var_of(settings: type[Settings], attr: str) -> Var:
    """The environment variable behind one settings attribute."""
    for name, var in variables(settings):
        if name == attr:
            return var
    raise KeyError(attr)


def read(variables: Sequence[Var], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read and parse variables by name; raise ConfigError naming the first bad one."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for var in variables:
        raw = env.get(var.name)
        if raw is None or (raw == "" and not var.required and var.default is not None):
            if var.required:
                raise ConfigError(f"{var.name} is required but not set")
            values[var.name] = var.default
            continue
        try:
            values[var.name] = var.parse(raw)
        except ValueError as exc:
            shown = "***" if var.secret else repr(raw)
            raise ConfigError(f"{var.name}={shown} is invalid: {exc}") from None
    return values


def load(settings: type[S], environ: Mapping[str, str] | None = None) -> S:
    """The service's settings from the environment; ConfigError names the first bad one."""
    declared = variables(settings)
    values = read([var for _, var in declared], environ)
    return settings(**{attr: values[var.name] for attr, var in declared})


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
