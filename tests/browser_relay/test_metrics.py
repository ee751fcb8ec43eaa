"""A browser's metrics batch → one Metrics Collector batch (pure)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from browser_relay.metrics import collector_batch, page_of
from shared.responses import BadRequest


def test_labels_are_added_and_the_project_is_the_keys() -> None:
    batch = collector_batch(
        {
            "metrics": [
                {"name": "web_vitals_lcp", "type": "histogram", "value": 1200},
                {
                    "name": "clicks",
                    "type": "counter",
                    "value": 1,
                    "labels": {"button": "buy", "project": "someone-else", "source": "x"},
                },
            ],
            "session_id": "s-1",
            "url": "https://shop.example.com/cart?step=2#top",
        },
        "shop",
    )
    added = {"project": "shop", "source": "browser", "session_id": "s-1", "page": "/cart"}
    assert batch[0]["labels"] == added and batch[0]["project"] == "shop"
    assert batch[1]["labels"] == {"button": "buy", **added}


def test_the_earlier_sdks_points_keep_their_own_session_and_page() -> None:
    """`@monlight/browser` 0.2.0 sent no session_id/url at the top, only in labels."""
    point = {
        "name": "web_vitals_cls",
        "type": "histogram",
        "value": 0.02,
        "labels": {"session_id": "old-1", "page": "/home"},
        "timestamp": "2026-12-02T10:00:00Z",
    }
    (out,) = collector_batch({"metrics": [point]}, "shop")
    assert out["labels"] == {
        "session_id": "old-1",
        "page": "/home",
        "project": "shop",
        "source": "browser",
    }
    assert out["timestamp"] == "2026-12-02T10:00:00Z"


@pytest.mark.parametrize(
    ("url", "page"),
    [
        ("https://a.example/x/y?q=1", "/x/y"),
        ("https://a.example", "/"),
        ("/relative/path", "/relative/path"),
        ("http://[::1", "/"),  # not a URL urlsplit can take
        ("https://a.example/" + "p" * 500, "/" + "p" * 199),
    ],
)
def test_page_is_the_path(url: str, page: str) -> None:
    assert page_of(url) == page


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "metrics"),
        ({"metrics": {}}, "metrics"),
        ({"metrics": []}, "metrics"),
        ({"metrics": [3]}, "metrics[0]"),
        ({"metrics": [{"name": "a", "labels": ["x"]}]}, "metrics[0].labels"),
        ({"metrics": [{"name": "a"}], "session_id": 5}, "session_id"),
        ({"metrics": [{"name": "a"}], "url": []}, "url"),
    ],
)
def test_bad_batches_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRequest, match=re.escape(f"'{field}'")):
        collector_batch(data, "shop")
