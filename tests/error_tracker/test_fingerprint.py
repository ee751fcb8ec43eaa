"""Fingerprints must group exactly like the earlier implementation did.

Existing databases hold md5("{project}:{type}:{file}:{line}") values; if we
computed anything else, every old error would split into a new group.
"""

from __future__ import annotations

import hashlib

import pytest

from error_tracker.fingerprint import code_location, fingerprint


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


PY_TB = (
    "Traceback (most recent call last):\n"
    '  File "/srv/app/main.py", line 12, in handler\n'
    "    process(order)\n"
    '  File "/srv/app/orders.py", line 88, in process\n'
    "    raise ValueError('bad order')\n"
    "ValueError: bad order\n"
)

CHROME = (
    "TypeError: Cannot read properties of undefined (reading 'x')\n"
    "    at Array.map (<anonymous>)\n"
    "    at render (https://shop.example.com/static/app.js:120:17)\n"
    "    at https://shop.example.com/static/vendor.js:5:3\n"
)

CHROME_ANONYMOUS = (
    "Error: boom\n"
    "    at https://shop.example.com/static/app.js:120:9\n"
    "    at main (https://shop.example.com/static/app.js:200:1)\n"
)

FIREFOX = (
    "render@https://shop.example.com/static/app.js:120:17\n"
    "@https://shop.example.com/static/vendor.js:5:3\n"
)

SAFARI = "forEach@[native code]\nglobal code@https://shop.example.com/static/app.js:120:17\n"


def test_known_input_has_exact_md5() -> None:
    # md5("shop:ValueError:/srv/app/orders.py:88"), written out so a change in how
    # the key is built (separator, encoding, frame choice) cannot go unnoticed.
    assert fingerprint("shop", "ValueError", PY_TB) == "8ab409a6d15329715ee31979ef2f09cf"


def test_python_uses_deepest_frame() -> None:
    assert code_location(PY_TB) == "/srv/app/orders.py:88"


def test_python_chained_exception_uses_last_frame_of_the_text() -> None:
    chained = PY_TB + (
        "\nDuring handling of the above exception, another exception occurred:\n\n"
        "Traceback (most recent call last):\n"
        '  File "/srv/app/views.py", line 7, in view\n'
        "KeyError: 'x'\n"
    )
    assert code_location(chained) == "/srv/app/views.py:7"


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        (CHROME, "https://shop.example.com/static/app.js:120"),
        (CHROME_ANONYMOUS, "https://shop.example.com/static/app.js:120"),
        (FIREFOX, "https://shop.example.com/static/app.js:120"),
        (SAFARI, "https://shop.example.com/static/app.js:120"),
        ("@https://shop.example.com/a.js:3:1\n", "https://shop.example.com/a.js:3"),
        ("    at async load (https://x.test/a.js:9:2)\n", "https://x.test/a.js:9"),
        ("    at new Cart (https://x.test/a.js:4)\n", "https://x.test/a.js:4"),
    ],
)
def test_javascript_throw_site(stack: str, expected: str) -> None:
    assert code_location(stack) == expected


def test_frames_without_location_are_skipped() -> None:
    stack = (
        "    at Array.map (<anonymous>)\n"
        "    at Array.forEach (native)\n"
        "map@[native code]\n"
        "    at handler (https://x.test/h.js:42:7)\n"
    )
    assert code_location(stack) == "https://x.test/h.js:42"


def test_url_with_port_keeps_it() -> None:
    assert code_location("    at f (http://localhost:8080/app.js:10:5)") == (
        "http://localhost:8080/app.js:10"
    )
    assert code_location("f@http://localhost:8080/app.js:10") == "http://localhost:8080/app.js:10"


def test_same_throw_site_groups_across_browsers_and_columns() -> None:
    chrome = fingerprint("web", "TypeError", CHROME)
    firefox = fingerprint("web", "TypeError", FIREFOX)
    other_column = fingerprint(
        "web", "TypeError", "    at render (https://shop.example.com/static/app.js:120:99)"
    )
    assert chrome == firefox == other_column
    assert chrome == md5("web:TypeError:https://shop.example.com/static/app.js:120")


def test_different_line_or_project_or_type_splits() -> None:
    base = fingerprint("web", "TypeError", FIREFOX)
    assert fingerprint("web", "TypeError", FIREFOX.replace(":120:", ":121:")) != base
    assert fingerprint("api", "TypeError", FIREFOX) != base
    assert fingerprint("web", "RangeError", FIREFOX) != base


def test_no_location_falls_back_to_whole_traceback() -> None:
    text = "something went wrong without a stack"
    assert code_location(text) == text
    assert fingerprint("p", "E", text) == md5(f"p:E:{text}")
    assert fingerprint("p", "E", "") == md5("p:E:")
    only_native = "    at Array.map (<anonymous>)\nforEach@[native code]"
    assert fingerprint("p", "E", only_native) == md5(f"p:E:{only_native}")
