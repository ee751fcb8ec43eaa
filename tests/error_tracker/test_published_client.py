"""The published monlight 0.3.0 client, unchanged, reports into a running tracker.

Existing applications run this exact client; the wire contract is only kept
if its real reports (real exceptions, real tracebacks, over HTTP) group and
display the way they did with the earlier implementation.
"""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import httpx

from tests.conftest import AUTH
from tests.helpers import ServiceProcess, run_published_client, tracker_env

SCRIPT = textwrap.dedent(
    """
    import asyncio
    import logging
    import sys

    from monlight import ErrorClient

    problems = []

    class Collect(logging.Handler):
        def emit(self, record):
            problems.append(record.getMessage())

    logging.getLogger("monlight").addHandler(Collect(level=logging.WARNING))

    client = ErrorClient(sys.argv[1], "test-key", project="pubproj")
    CONTEXT = {
        "request_url": "https://shop.example.com/checkout?step=2",
        "request_method": "POST",
        "request_headers": {
            "Authorization": "Bearer top-secret",
            "Cookie": "session=abc",
            "User-Agent": "pytest-agent/1.0",
            "X-Request-Id": "req-1",
        },
        "user_id": 42,
        "extra": {"order_id": 1001, "session_id": "sess-9", "items": ["a", "b"]},
    }


    def checkout(n):
        raise ValueError(f"invalid quantity {n}")  # SAME_LINE


    def lookup():
        return {}["sku"]


    for attempt in range(2):
        try:
            checkout(attempt)
        except ValueError as exc:
            client.report_error_sync(exc, CONTEXT)

    try:
        lookup()
    except KeyError as exc:
        client.report_error_sync(exc)


    async def main():
        try:
            checkout(99)
        except ValueError as exc:
            await client.report_error(exc, CONTEXT)
        try:
            1 / 0
        except ZeroDivisionError as exc:
            await client.report_error(exc, {"user_id": "u-async", "extra": {"k": "v"}})


    asyncio.run(main())
    if problems:
        sys.exit("client reported problems: " + "; ".join(problems))
    print("reported")
    """
)


def line_of(marker: str) -> int:
    """Line number of `marker` in the script as `python -c` numbers it."""
    return next(i for i, line in enumerate(SCRIPT.splitlines(), 1) if marker in line)


def fp(project: str, exc_type: str, line: int) -> str:
    return hashlib.md5(f"{project}:{exc_type}:<string>:{line}".encode()).hexdigest()


def test_published_client_reports_group_and_show(tmp_path: Path, published_client: Path) -> None:
    with ServiceProcess("error_tracker", tracker_env(tmp_path)) as service:
        code = f"import sys; sys.argv = ['x', {service.url!r}]\n" + SCRIPT
        # The prefix adds one line before the script.
        out = run_published_client(published_client, code)
        assert out.strip() == "reported"

        with httpx.Client(base_url=service.url, headers=AUTH, timeout=10) as api:
            listed = api.get("/api/errors").json()
            assert listed["total"] == 3
            groups = {e["exception_type"]: e for e in listed["errors"]}
            assert set(groups) == {"ValueError", "KeyError", "ZeroDivisionError"}

            value = groups["ValueError"]
            assert value["count"] == 3  # same line, sync twice and async once
            assert value["fingerprint"] == fp("pubproj", "ValueError", line_of("SAME_LINE") + 1)
            assert value["message"] == "invalid quantity 0"  # the group keeps the first
            assert value["project"] == "pubproj" and value["source"] == "server"
            assert groups["KeyError"]["count"] == 1
            assert groups["KeyError"]["fingerprint"] == fp(
                "pubproj", "KeyError", line_of('return {}["sku"]') + 1
            )
            assert groups["ZeroDivisionError"]["count"] == 1

            detail = api.get(f"/api/errors/{value['id']}").json()
            assert f"line {line_of('SAME_LINE') + 1}, in checkout" in detail["traceback"]
            occurrences = detail["occurrences"]
            assert len(occurrences) == 3
            newest = occurrences[0]
            assert newest["request_headers"] == {
                "User-Agent": "pytest-agent/1.0",
                "X-Request-Id": "req-1",
            }
            assert newest["extra"] == {
                "order_id": 1001,
                "session_id": "sess-9",
                "items": ["a", "b"],
            }
            assert newest["user_id"] == "42"
            assert newest["request_url"] == "https://shop.example.com/checkout?step=2"
            assert newest["request_method"] == "POST"
            assert "invalid quantity 99" in newest["traceback"]  # async report is newest
            for occurrence in occurrences:
                assert "Authorization" not in occurrence["request_headers"]
                assert "Cookie" not in occurrence["request_headers"]

            zero = api.get(f"/api/errors/{groups['ZeroDivisionError']['id']}").json()
            assert zero["occurrences"][0]["user_id"] == "u-async"
            assert zero["occurrences"][0]["extra"] == {"k": "v"}
            assert zero["occurrences"][0]["request_headers"] is None
            key = api.get(f"/api/errors/{groups['KeyError']['id']}").json()
            assert key["message"] == "'sku'"
            assert key["occurrences"][0]["extra"] is None

            by_session = api.get("/api/errors", params={"session_id": "sess-9"}).json()
            assert [e["id"] for e in by_session["errors"]] == [value["id"]]
        # The secret never reached the database file either.
        assert b"top-secret" not in (tmp_path / "errors.db").read_bytes()
