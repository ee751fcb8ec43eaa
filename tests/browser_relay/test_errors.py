"""A browser's error report → the Error Tracker's payload (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from browser_relay.errors import parse_error, tracker_payload
from shared.responses import BadRequest

REPORT = {
    "type": "TypeError",
    "message": "x is undefined",
    "stack": "TypeError: x is undefined\n    at a (https://shop.example.com/app.min.js:1:42)",
    "url": "https://shop.example.com/cart?step=2",
    "user_agent": "Mozilla/5.0",
    "session_id": "s-1",
    "release": "2026.12.1",
    "context": {"user_id": "u-7", "plan": "pro"},
}


def test_the_spec_transformation() -> None:
    error = parse_error(REPORT)
    payload = tracker_payload(error, "shop", "rewritten stack", REPORT["stack"])
    assert payload == {
        "project": "shop",
        "exception_type": "TypeError",
        "message": "x is undefined",
        "traceback": "rewritten stack",
        "request_url": "https://shop.example.com/cart?step=2",
        "request_method": "BROWSER",
        "user_id": "u-7",
        "extra": {
            "user_agent": "Mozilla/5.0",
            "session_id": "s-1",
            "release": "2026.12.1",
            "context": {"user_id": "u-7", "plan": "pro"},
            "original_stack": REPORT["stack"],
        },
    }


def test_the_earlier_sdks_timestamp_is_kept_and_nothing_else_is_needed() -> None:
    error = parse_error({"type": "Error", "message": "", "timestamp": "2026-12-02T10:00:00Z"})
    payload = tracker_payload(error, "shop", error.stack, None)
    assert payload["extra"]["timestamp"] == "2026-12-02T10:00:00Z"
    assert payload["traceback"] == "" and "request_url" not in payload
    assert "user_id" not in payload and "original_stack" not in payload["extra"]


def test_long_values_are_cut_to_what_the_tracker_takes() -> None:
    error = parse_error(
        {**REPORT, "type": "E" * 500, "url": "https://x/" + "a" * 900, "context": {"user_id": 7}}
    )
    payload = tracker_payload(error, "p" * 300, "", None)
    assert len(payload["exception_type"]) == 200 and len(payload["request_url"]) == 500
    assert len(payload["project"]) == 100 and payload["user_id"] == "7"


@pytest.mark.parametrize(
    ("report", "field"),
    [
        ({"message": "m"}, "type"),
        ({"type": "", "message": "m"}, "type"),
        ({"type": "E"}, "message"),
        ({"type": 3, "message": "m"}, "type"),
        ({"type": "E", "message": "m", "stack": ["a"]}, "stack"),
        ({"type": "E", "message": "m", "context": "x"}, "context"),
        ({"type": "E", "message": "m", "url": 5}, "url"),
        ({"type": "E", "message": "m", "timestamp": {}}, "timestamp"),
    ],
)
def test_wrong_fields_are_named(report: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRequest, match=f"'{field}'"):
        parse_error(report)
