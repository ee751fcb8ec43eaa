"""shared.validate: durations and required strings, or a 400 naming the parameter."""

from __future__ import annotations

import pytest
from starlette.datastructures import QueryParams
from starlette.testclient import TestClient

from error_tracker.config import from_env
from shared.config import ConfigError
from shared.responses import BadRequest
from shared.validate import (
    ascii_int,
    parse_duration,
    query_duration,
    query_optional,
    query_required,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1),
        ("90s", 90),
        ("5m", 300),
        ("24h", 86_400),
        ("7d", 604_800),
        ("3650d", 315_360_000),
        ("05m", 300),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["0s", "0d", "1w", "-5m", "5", "m", "1.5h", "24H", "1h30m", " 5m", "", "9999999999999d"]
)
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_query_duration_defaults_and_names_the_parameter() -> None:
    assert query_duration(QueryParams(""), "period", "24h") == ("24h", 86_400)
    assert query_duration(QueryParams("period="), "period", "24h") == ("24h", 86_400)
    with pytest.raises(BadRequest, match="'period'"):
        query_duration(QueryParams("period=1w"), "period", "24h")


def test_required_and_optional_strings() -> None:
    assert query_required(QueryParams("name=x"), "name") == "x"
    for qs in ("", "name=", "name=%20"):
        with pytest.raises(BadRequest, match="'name' is required"):
            query_required(QueryParams(qs), "name")
    with pytest.raises(BadRequest, match="at most 3"):
        query_required(QueryParams("name=abcd"), "name", max_len=3)
    assert query_optional(QueryParams("project="), "project") is None
    assert query_optional(QueryParams("project=p"), "project") == "p"


@pytest.mark.parametrize("raw", ["5_0", "\u0665", "\uff11", "1e3", " 5", "0x10", "5.0", ""])
def test_integers_are_plain_ascii_digits(raw: str) -> None:
    """int() takes `5_0` and any Unicode digit; no client means those."""
    with pytest.raises(ValueError):
        ascii_int(raw)


def test_query_and_config_integers_refuse_lenient_spellings(tracker: TestClient) -> None:
    for raw in ("5_0", "\u0665"):
        r = tracker.get("/api/errors", params={"limit": raw})
        assert r.status_code == 400 and "limit" in r.json()["detail"]
    assert tracker.get("/api/errors", params={"limit": "+5"}).status_code == 200
    with pytest.raises(ConfigError, match="PORT"):
        from_env({"API_KEY": "k", "PORT": "8_000"})
    assert from_env({"API_KEY": "k", "PORT": " 8000 "}).port == 8000
