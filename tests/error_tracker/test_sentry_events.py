"""Sentry envelopes from the real `sentry-sdk` (its transport swapped for a list), parsed
and turned into our reports: grouped as ours group the same traceback (#15, part)."""

from __future__ import annotations

import gzip
import traceback
import zlib
from collections.abc import Iterator
from typing import Any

import brotli
import orjson
import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope as SdkEnvelope
from sentry_sdk.transport import Transport

from error_tracker.envelope import decompress, item_json, parse_envelope
from error_tracker.grouping import group_report
from error_tracker.sentry_events import report_of
from shared.responses import ApiError, BadRequest


class Keep(Transport):
    """The SDK's transport, keeping each envelope's bytes instead of sending them."""

    sent: list[bytes] = []

    def capture_envelope(self, envelope: SdkEnvelope) -> None:
        Keep.sent.append(envelope.serialize())


@pytest.fixture
def sdk() -> Iterator[list[bytes]]:
    Keep.sent = []
    sentry_sdk.init(
        dsn="http://0123456789abcdef0123456789abcdef@localhost:5010/1",
        transport=Keep,
        default_integrations=False,
        release="shop@1.4.2",
        environment="production",
        server_name="web-1",
    )
    yield Keep.sent
    sentry_sdk.get_client().close()


def events(sent: list[bytes]) -> list[dict[str, Any]]:
    out = []
    for body in sent:
        for item in parse_envelope(body).items:
            if item.type == "event":
                event = item_json(item)
                assert event is not None
                out.append(event)
    return out


class PricingError(Exception):
    pass


def price_of(sku: str) -> float:
    return {"tea": 3.5}[sku]


def total(skus: list[str]) -> float:
    try:
        return sum(price_of(s) for s in skus)
    except KeyError as exc:
        raise PricingError(f"no price for {exc}") from exc


def test_a_chained_exception_groups_as_our_clients_traceback_does(sdk: list[bytes]) -> None:
    try:
        total(["coffee"])
    except PricingError as exc:
        ours = "".join(traceback.format_exception(exc))
        sentry_sdk.capture_exception(exc)
    (event,) = events(sdk)
    report = report_of(event, "shop")
    assert report.exception_type == "PricingError"
    assert report.message == "no price for 'coffee'"
    # Both exceptions, the cause first, as Python prints them.
    assert (
        report.traceback.index("KeyError: 'coffee'")
        < report.traceback.index("The above exception was the direct cause")
        < report.traceback.index("PricingError: no price for 'coffee'")
    )
    assert 'in price_of\n    return {"tea": 3.5}[sku]' in report.traceback
    key, culprit = group_report("shop", "PricingError", report.message, ours)
    assert report.grouping_key == key  # the same group as our client's report
    assert report.culprit == culprit and culprit is not None and culprit.endswith("in total")
    extra = orjson.loads(report.extra or "{}")
    assert extra["release"] == "shop@1.4.2" and extra["environment"] == "production"
    assert extra["server_name"] == "web-1" and extra["sdk"].startswith("sentry.python/")
    assert extra["event_id"] == event["event_id"]


def test_a_message_with_tags_user_and_breadcrumbs(sdk: list[bytes]) -> None:
    for n in range(60):
        sentry_sdk.add_breadcrumb(category="cart", message=f"step {n}")
    sentry_sdk.set_tag("region", "eu-west")
    sentry_sdk.set_user({"id": "u-17", "email": "ana@example.com"})
    sentry_sdk.capture_message("checkout took 31 s", level="warning")
    (event,) = events(sdk)
    report = report_of(event, "shop")
    assert report.exception_type == "Message (warning)"
    assert report.message == "checkout took 31 s" and report.user_id == "u-17"
    extra = orjson.loads(report.extra or "{}")
    assert extra["tags"] == {"region": "eu-west"} and extra["level"] == "warning"
    assert [c["message"] for c in extra["breadcrumbs"]] == [f"step {n}" for n in range(10, 60)]
    # Numbers are blanked when a message groups: the next slow checkout joins it.
    later = dict(event, message="checkout took 45 s", logentry=None)
    assert report_of(later, "shop").grouping_key == report.grouping_key


def test_a_client_fingerprint_overrides(sdk: list[bytes]) -> None:
    with sentry_sdk.new_scope() as scope:
        scope.fingerprint = ["payment-gateway", "{{ default }}"]
        sentry_sdk.capture_exception(ValueError("gateway said no"))
    sentry_sdk.capture_exception(ValueError("gateway said no"))
    first, second = (report_of(e, "shop") for e in events(sdk))
    assert first.grouping_key != second.grouping_key


def test_a_javascript_event_reads_as_a_v8_stack() -> None:
    event = {
        "platform": "javascript",
        "exception": {
            "values": [
                {
                    "type": "TypeError",
                    "value": "x is undefined",
                    "stacktrace": {
                        "frames": [
                            {
                                "abs_path": "https://shop.example/node_modules/react/index.js",
                                "function": "render",
                                "lineno": 3,
                                "colno": 4,
                            },
                            {
                                "abs_path": "https://shop.example/assets/app.3f9c2a1b.js",
                                "function": "priceOf",
                                "lineno": 1,
                                "colno": 2345,
                            },
                        ]
                    },
                }
            ]
        },
        "request": {"url": "https://shop.example/cart", "headers": [["User-Agent", "Firefox"]]},
    }
    report = report_of(event, "web")
    assert report.traceback.splitlines()[:2] == [
        "TypeError: x is undefined",
        "    at priceOf (https://shop.example/assets/app.3f9c2a1b.js:1:2345)",
    ]
    assert report.culprit == "assets/app.js:1 in priceOf"
    assert report.request_url == "https://shop.example/cart"
    assert orjson.loads(report.request_headers or "{}") == {"User-Agent": "Firefox"}


def test_an_event_with_nothing_to_group_is_a_400() -> None:
    with pytest.raises(BadRequest):
        report_of({"level": "error"}, "shop")


ITEM = b'{"type":"event","length":%d}\n%s\n'


def envelope(*items: bytes) -> bytes:
    return b'{"event_id":"e1"}\n' + b"".join(items)


def test_broken_items_are_dropped_and_counted_never_the_ones_before() -> None:
    good = b'{"message":"ok"}'
    parsed = parse_envelope(envelope(ITEM % (len(good), good), b'{"type":"event","length":999}\n'))
    assert [item.payload for item in parsed.items] == [good]
    assert parsed.dropped == ["event item cut short"]
    # No length: the payload runs to the newline; an item header without a payload.
    parsed = parse_envelope(envelope(b'{"type":"session"}\n{"sid":"1"}\n{"type":"event"}\n'))
    assert [(i.type, i.payload) for i in parsed.items] == [
        ("session", b'{"sid":"1"}'),
        ("event", b""),
    ]
    # Invalid JSON in one item: it is kept as bytes and its reader finds no object.
    parsed = parse_envelope(envelope(ITEM % (3, b"{no"), ITEM % (len(good), good)))
    assert [item_json(i) for i in parsed.items] == [None, {"message": "ok"}]
    for bad in (b'{"type":"event","length":-1}\nx\n', b'{"type":"event","length":"2"}\nxx\n'):
        assert parse_envelope(envelope(bad)).dropped == ["event item with a bad length"]
    assert parse_envelope(envelope(b"not json\n")).dropped
    with pytest.raises(BadRequest):
        parse_envelope(b"garbage\n" + ITEM % (len(good), good))


def test_compressed_bodies_are_read_with_a_bound() -> None:
    body = envelope(ITEM % (2, b"{}"))
    assert decompress(gzip.compress(body), "gzip", 1000) == body
    assert decompress(zlib.compress(body), "deflate", 1000) == body
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    assert decompress(raw.compress(body) + raw.flush(), "deflate", 1000) == body
    bomb = gzip.compress(b"\0" * 10_000_000)  # 10 MB of zeros in ~10 KB
    with pytest.raises(ApiError) as info:
        decompress(bomb, "gzip", 1_000_000)
    assert info.value.status_code == 413
    with pytest.raises(BadRequest):
        decompress(b"not gzip", "gzip", 1000)
    assert decompress(brotli.compress(body), "br", 1000) == body
    with pytest.raises(ApiError) as info:
        decompress(brotli.compress(b"\0" * 10_000_000), "br", 1_000_000)
    assert info.value.status_code == 413
    with pytest.raises(BadRequest):
        decompress(brotli.compress(body)[:-3], "br", 1000)  # cut short
    with pytest.raises(ApiError) as info:
        decompress(body, "zstd", 1000)
    assert info.value.status_code == 415
