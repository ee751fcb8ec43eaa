"""Configuration: operators get one clear line naming the bad variable."""

from __future__ import annotations

import pytest

from error_tracker import SERVICE
from error_tracker.config import from_env
from shared.config import (
    ConfigError,
    Var,
    markdown_table,
    parse_csv,
    parse_log_level,
    parse_positive_int,
    read,
)


def test_defaults_follow_the_spec() -> None:
    cfg = from_env({"API_KEY": "k"})
    assert cfg.host == "0.0.0.0"
    assert cfg.port == 8000
    assert cfg.log_level == "info"
    assert cfg.database_path == "./data/errors.db"
    assert cfg.rate_limit == 100
    assert cfg.max_body_size == 262_144
    assert cfg.retention_days == 90
    assert cfg.smtp_port == 25
    assert cfg.smtp_from == "errors@example.com"
    assert cfg.alert_emails == ()


def test_values_are_parsed() -> None:
    cfg = from_env(
        {
            "API_KEY": "k",
            "PORT": " 9000 ",
            "LOG_LEVEL": "DEBUG",
            "RATE_LIMIT": "0",
            "ALERT_EMAILS": "a@x.test, b@x.test,,",
            "RETENTION_DAYS": "7",
        }
    )
    assert (cfg.port, cfg.log_level, cfg.rate_limit) == (9000, "debug", 0)
    assert cfg.alert_emails == ("a@x.test", "b@x.test")
    assert cfg.retention_days == 7
    assert from_env({"API_KEY": "k", "LOG_LEVEL": "warning"}).log_level == "warn"


def test_missing_required_variable_is_named() -> None:
    with pytest.raises(ConfigError, match="API_KEY") as info:
        from_env({})
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="API_KEY"):
        from_env({"API_KEY": "  "})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "abc"),
        ("PORT", "70000"),
        ("LOG_LEVEL", "loud"),
        ("RATE_LIMIT", "-1"),
        ("MAX_BODY_SIZE", "0"),
        ("RETENTION_DAYS", "ten"),
        ("SMTP_PORT", "smtp"),
    ],
)
def test_malformed_value_is_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        from_env({"API_KEY": "k", name: value})
    message = str(info.value)
    assert message.startswith(f"{name}=") and value in message
    assert "\n" not in message


def test_secret_values_are_not_echoed() -> None:
    secret = Var("TOKEN", parse_positive_int, required=True, secret=True)
    with pytest.raises(ConfigError) as info:
        read([secret], {"TOKEN": "hunter2"})
    assert "hunter2" not in str(info.value) and "TOKEN" in str(info.value)


def test_empty_optional_value_means_default() -> None:
    cfg = from_env({"API_KEY": "k", "PORT": "", "RATE_LIMIT": ""})
    assert (cfg.port, cfg.rate_limit) == (8000, 100)


def test_parsers() -> None:
    assert parse_csv(" a , ,b,") == ("a", "b")
    with pytest.raises(ValueError):
        parse_log_level("verbose")


def test_markdown_table_lists_every_variable() -> None:
    table = markdown_table(SERVICE.variables).splitlines()
    assert table[0] == "| variable | default | meaning |"
    rows = {line.split("|")[1].strip(): line for line in table[2:]}
    assert set(rows) == {f"`{v.name}`" for v in SERVICE.variables}
    assert "**required**" in rows["`API_KEY`"]
    assert "`8000`" in rows["`PORT`"]
    assert "unset" in rows["`SMTP_HOST`"] and "unset" in rows["`ALERT_EMAILS`"]


def test_settings_are_frozen_and_typed() -> None:
    import dataclasses

    cfg = from_env({"API_KEY": "k", "TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.port = 1  # type: ignore[misc]
    assert [str(n) for n in cfg.trusted_proxies] == ["10.0.0.0/8", "127.0.0.1/32"]
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        from_env({"API_KEY": "k", "TRUSTED_PROXIES": "10.0.0.0/33"})
    with pytest.raises(ConfigError, match="SQLITE_SYNCHRONOUS"):
        from_env({"API_KEY": "k", "SQLITE_SYNCHRONOUS": "off"})
    assert from_env({"API_KEY": "k", "SQLITE_SYNCHRONOUS": "normal"}).sqlite_synchronous == (
        "NORMAL"
    )
