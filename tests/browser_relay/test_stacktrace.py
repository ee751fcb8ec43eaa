"""browser_relay.stacktrace: frame parsing, URL normalisation, rewriting real stacks.

The stacks in fixtures/sourcemaps/stacks.json were thrown by the fixture bundles in V8
(Chrome's engine), with the same frames written the way Firefox prints them; the
rewrites they are compared with come from Mozilla's source-map positions.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from browser_relay.sourcemap import Original, SourceMap, parse_map
from browser_relay.stacktrace import (
    MAX_FRAMES,
    MAX_LINE_LENGTH,
    MAX_LINES,
    Frame,
    format_frame,
    frame_urls,
    normalize_url,
    parse_frame,
    rewrite,
)

FIXTURES = Path(__file__).parent / "fixtures" / "sourcemaps"
MAP_FILES = {"esbuild": "app.min.js.map", "terser": "app.min.js.map"}
MAP_FILES["indexed"] = "combined.min.js.map"
ORIGINAL = Original("src/app.ts", 12, 4, "originalName")

STACKS: list[dict[str, Any]] = json.loads((FIXTURES / "stacks.json").read_text())


def fixture_map(name: str) -> SourceMap:
    return parse_map((FIXTURES / name / MAP_FILES[name]).read_text())


class Recorder:
    """A lookup that answers `answer` and records what it was asked."""

    def __init__(self, answer: Original | None = ORIGINAL) -> None:
        self.answer = answer
        self.calls: list[tuple[str, int, int]] = []

    def __call__(self, url: str, line: int, column: int) -> Original | None:
        self.calls.append((url, line, column))
        return self.answer


# ---------------------------------------------------------------------------------------
# Real stacks.


@pytest.mark.parametrize("case", STACKS, ids=lambda c: f"{c['fixture']}:{c['chrome'][:30]}")
@pytest.mark.parametrize("style", ["chrome", "firefox"])
def test_rewrites_real_stacks_like_mozilla(case: dict[str, Any], style: str) -> None:
    maps = {case["file_url"]: fixture_map(case["fixture"])}

    def lookup(url: str, line: int, column: int) -> Original | None:
        found = maps.get(url)
        return None if found is None else found.lookup(line, column)

    text, changed = rewrite(case[style], lookup)
    assert changed
    assert text == case[f"{style}_rewritten"]
    assert text.count("\n") == case[style].count("\n")


def test_real_stack_frames_point_at_the_throw() -> None:
    case = STACKS[0]  # esbuild, app.start -> main -> checkout -> validateLines -> throw
    assert case["fixture"] == "esbuild" and "?v=2" in case["chrome"]
    parsed = fixture_map("esbuild")
    text, _ = rewrite(case["chrome"], lambda url, line, column: parsed.lookup(line, column))
    lines = text.split("\n")
    cart = (FIXTURES / "src/cart.js").read_text().split("\n")
    # `    at ../src/cart.js:41:13`: where validateLines made the error (1-based column)
    top = lines[1].strip().removeprefix("at ")
    source, line, column = top.rsplit(":", 2)
    assert source == "../src/cart.js"
    assert cart[int(line) - 1][int(column) - 1 :].startswith("new CheckoutError(")
    assert "    at Array.forEach (<anonymous>)" in lines  # kept verbatim
    assert any(ln.startswith("    at async ") and "../src/app.js" in ln for ln in lines)
    frames = [f for f in case["frames"] if f["original"] is not None]
    assert len(frames) >= 5


def test_new_and_async_frames_keep_their_prefix() -> None:
    stacks = "\n".join(case["chrome_rewritten"] for case in STACKS)
    assert "    at new a (../src/widget.js:" in stacks
    assert "    at async Object.E (../src/app.js:" in stacks


# ---------------------------------------------------------------------------------------
# Parsing frames.


@pytest.mark.parametrize(
    ("line", "want"),
    [
        (
            "    at fn (https://x.com/a.js:1:2)",
            Frame("chrome", "    ", "", "fn", "https://x.com/a.js", 1, 2),
        ),
        (
            "    at https://x.com/a.js:1:2",
            Frame("chrome", "    ", "", None, "https://x.com/a.js", 1, 2),
        ),
        (
            "at async fn (https://x.com/a.js:10:20)",
            Frame("chrome", "", "async ", "fn", "https://x.com/a.js", 10, 20),
        ),
        (
            "    at async https://x.com/a.js:3:4",
            Frame("chrome", "    ", "async ", None, "https://x.com/a.js", 3, 4),
        ),
        (
            "    at new Foo (https://x.com/a.js:1:2)",
            Frame("chrome", "    ", "new ", "Foo", "https://x.com/a.js", 1, 2),
        ),
        (
            "    at Object.<anonymous> (https://x.com/a.js:1:2)",
            Frame("chrome", "    ", "", "Object.<anonymous>", "https://x.com/a.js", 1, 2),
        ),
        (
            "    at Foo.bar [as baz] (https://x.com:8080/a.js?v=1#top:7:8)",
            Frame(
                "chrome", "    ", "", "Foo.bar [as baz]", "https://x.com:8080/a.js?v=1#top", 7, 8
            ),
        ),
        (
            "\tat f (https://user@x.com/node_modules/@scope/p/i.js:1:2)\r",
            Frame(
                "chrome", "\t", "", "f", "https://user@x.com/node_modules/@scope/p/i.js", 1, 2, "\r"
            ),
        ),
        ("fn@https://x.com/a.js:1:2", Frame("firefox", "", "", "fn", "https://x.com/a.js", 1, 2)),
        ("@https://x.com/a.js:1:2", Frame("firefox", "", "", None, "https://x.com/a.js", 1, 2)),
        (
            "fn@https://x.com:8080/a.js:5",
            Frame("firefox", "", "", "fn", "https://x.com:8080/a.js", 5, None),
        ),
        (
            "async*fn/<@https://x.com/@scope/a.js:1:2",
            Frame("firefox", "", "async*", "fn/<", "https://x.com/@scope/a.js", 1, 2),
        ),
        (
            "global code@https://x.com/a.js:9:1  ",
            Frame("firefox", "", "", "global code", "https://x.com/a.js", 9, 1, "  "),
        ),
        ("fn@/assets/a.js:1:2", Frame("firefox", "", "", "fn", "/assets/a.js", 1, 2)),
    ],
)
def test_parse_frame(line: str, want: Frame) -> None:
    assert parse_frame(line) == want


@pytest.mark.parametrize(
    "line",
    [
        "TypeError: Cannot read properties of undefined (reading 'x')",
        "Error: boom",
        "    at Array.forEach (<anonymous>)",
        "    at async Promise.all (index 0)",
        "    at <anonymous>",
        "    at eval (eval at run (https://x.com/a.js:1:2), <anonymous>:3:4)",
        "    at eval (eval at <anonymous> (https://x.com/a.js:1:2))",
        "fn@https://x.com/a.js line 2 > eval:1:5",
        "anonymous@https://x.com/a.js line 2 > Function:1:5",
        "[native code]",
        "fn@[native code]",
        "fn@:1:2",
        "    at f (:1:2)",
        "    at f (https://x.com/a.js)",
        "    at f (https://x.com/a.js:x:2)",
        "    at f (https://x.com/a.js:1:²)",
        "    at f (https://x.com/a.js:١:2)",
        "    at f (https://x.com/a.js:" + "9" * 30 + ":2)",
        "    at f (https://x.com/a.js:1:" + "9" * 30 + ")",
        "    at f (https://x.com/a.js:1:4294967296)",
        "fn@https://x.com/a.js:" + "1" * 5000,
        "    at (https://x.com/a.js:1:2)",
        "",
        "   ",
        "@",
        "at ",
    ],
)
def test_not_frames(line: str) -> None:
    assert parse_frame(line) is None
    text, changed = rewrite(line, Recorder())
    assert (text, changed) == (line, False)


# ---------------------------------------------------------------------------------------
# URLs.


@pytest.mark.parametrize(
    ("url", "want"),
    [
        ("https://cdn.x.com/assets/a.js?v=2", "/assets/a.js"),
        ("https://cdn.x.com:8443/assets/a.js#frag", "/assets/a.js"),
        ("http://user:pw@localhost:8080/a.js?x#y", "/a.js"),
        ("HTTPS://CDN.X.COM/Assets/A.js", "/Assets/A.js"),
        ("//cdn.x.com/a.js", "/a.js"),
        ("https://cdn.x.com", "/"),
        ("https://cdn.x.com?x=1", "/"),
        ("file:///home/u/a.js", "/home/u/a.js"),
        ("webpack:///src/a.js", "/src/a.js"),
        ("/assets/a.js", "/assets/a.js"),
        ("/assets/a.js?v=3", "/assets/a.js"),
        ("assets/a.js", "assets/a.js"),
        ("  /a.js ", "/a.js"),
        ("blob:https://x.com/0d1c7a1e-8d3c-4c22-9d4a-0c3e0f6a3f4b", ""),
        ("data:text/javascript,throw 1", ""),
        ("javascript:void(0)", ""),
        ("about:blank", ""),
        ("chrome-extension://abcdef/content.js", ""),
        ("moz-extension://1234/content.js", ""),
        ("safari-web-extension://1234/content.js", ""),
        ("mailto:x@y", ""),
        ("", ""),
    ],
)
def test_normalize_url(url: str, want: str) -> None:
    assert normalize_url(url) == want


def test_unmatchable_urls_are_never_looked_up() -> None:
    stack = "\n".join(
        [
            "Error: x",
            "    at f (blob:https://x.com/0d1c7a1e:1:2)",
            "    at data:text/javascript,1:1:2",
            "g@chrome-extension://abc/c.js:1:2",
        ]
    )
    recorder = Recorder()
    assert rewrite(stack, recorder) == (stack, False)
    assert recorder.calls == [] and frame_urls(stack) == []


# ---------------------------------------------------------------------------------------
# Rewriting.


def test_lookup_gets_normalized_url_and_0_based_column() -> None:
    recorder = Recorder(None)
    stack = "Error\n    at f (https://cdn.x.com/assets/a.js?v=2:3:17)\nf@/assets/b.js:1:1"
    assert rewrite(stack, recorder) == (stack, False)
    assert recorder.calls == [("/assets/a.js", 3, 16), ("/assets/b.js", 1, 0)]


def test_rewrite_formats() -> None:
    recorder = Recorder()
    stack = "\n".join(
        [
            "TypeError: x is not a function",
            "    at e.render (https://x.com/a.js:1:100)",
            "    at https://x.com/a.js:1:200",
            "    at async https://x.com/a.js:1:300",
            "    at new t (https://x.com/a.js:1:400)",
            "r@https://x.com/a.js:1:500",
            "@https://x.com/a.js:1:600",
            "async*r@https://x.com/a.js:1:700\r",
        ]
    )
    text, changed = rewrite(stack, recorder)
    assert changed
    assert text.split("\n") == [
        "TypeError: x is not a function",
        "    at originalName (src/app.ts:12:5)",
        "    at originalName (src/app.ts:12:5)",
        "    at async originalName (src/app.ts:12:5)",
        "    at new originalName (src/app.ts:12:5)",
        "originalName@src/app.ts:12:5",
        "originalName@src/app.ts:12:5",
        "async*originalName@src/app.ts:12:5\r",
    ]
    assert [c[2] for c in recorder.calls] == [99, 199, 299, 399, 499, 599, 699]


def test_rewrite_without_a_name_in_the_map_keeps_the_frames() -> None:
    unnamed = Original("src/app.ts", 3, 0, None)
    stack = "\n".join(
        [
            "    at e.render (https://x.com/a.js:1:100)",
            "    at https://x.com/a.js:1:200",
            "    at async https://x.com/a.js:1:300",
            "r@https://x.com/a.js:1:500",
            "@https://x.com/a.js:1:600",
        ]
    )
    text, _ = rewrite(stack, Recorder(unnamed))
    assert text.split("\n") == [
        "    at e.render (src/app.ts:3:1)",
        "    at src/app.ts:3:1",
        "    at async src/app.ts:3:1",
        "r@src/app.ts:3:1",
        "@src/app.ts:3:1",
    ]


def test_format_frame() -> None:
    frame = parse_frame("  at x (https://h/a.js:1:2)  ")
    assert frame is not None
    assert format_frame(frame, ORIGINAL) == "  at originalName (src/app.ts:12:5)  "


def test_frames_without_a_column_or_with_column_0_are_not_looked_up() -> None:
    stack = "f@https://x.com/a.js:12\n    at g (https://x.com/a.js:1:0)"
    recorder = Recorder()
    assert rewrite(stack, recorder) == (stack, False)
    assert recorder.calls == []
    frame = parse_frame("f@https://x.com/a.js:12")
    assert frame is not None and frame.line == 12 and frame.column is None


def test_only_mapped_frames_change() -> None:
    def lookup(url: str, line: int, column: int) -> Original | None:
        return ORIGINAL if url == "/mapped.js" else None

    stack = "\n".join(
        [
            "Error: mixed",
            "    at a (https://x.com/mapped.js:1:10)",
            "    at b (https://x.com/other.js:1:10)",
            "    at Array.map (<anonymous>)",
            "    at c (https://x.com/mapped.js:1:20)",
        ]
    )
    text, changed = rewrite(stack, lookup)
    assert changed
    assert text.split("\n") == [
        "Error: mixed",
        "    at originalName (src/app.ts:12:5)",
        "    at b (https://x.com/other.js:1:10)",
        "    at Array.map (<anonymous>)",
        "    at originalName (src/app.ts:12:5)",
    ]
    assert frame_urls(stack) == ["/mapped.js", "/other.js"]


def test_work_is_bounded() -> None:
    frames = [f"    at f{i} (https://x.com/a.js:1:{i + 1})" for i in range(MAX_FRAMES + 50)]
    stack = "Error: deep\n" + "\n".join(frames)
    recorder = Recorder()
    text, changed = rewrite(stack, recorder)
    assert changed and len(recorder.calls) == MAX_FRAMES
    out = text.split("\n")
    assert out[MAX_FRAMES] == "    at originalName (src/app.ts:12:5)"
    assert out[MAX_FRAMES + 1 :] == frames[MAX_FRAMES:]
    assert len(frame_urls(stack)) == 1

    long_line = "    at f (https://x.com/" + "a" * MAX_LINE_LENGTH + ".js:1:2)"
    recorder = Recorder()
    assert rewrite(long_line, recorder) == (long_line, False)
    assert recorder.calls == []

    chatty = "Error: many lines\n" * MAX_LINES + "    at f (https://x.com/a.js:1:2)"
    recorder = Recorder()
    assert rewrite(chatty, recorder) == (chatty, False)
    assert recorder.calls == []
    assert rewrite(chatty[len("Error: many lines\n") :], recorder)[1]


def test_huge_positions_are_left_alone() -> None:
    for number in (10**30, 2**31, 2**64):
        stack = f"    at f (https://x.com/a.js:{number}:2)\nf@https://x.com/a.js:1:{number}"
        recorder = Recorder()
        assert rewrite(stack, recorder) == (stack, False)
        assert recorder.calls == []


def test_lookup_through_a_real_map_with_huge_positions() -> None:
    parsed = fixture_map("terser")
    stack = "    at f (https://x.com/app.min.js:2147483647:2147483647)"
    text, _ = rewrite(stack, lambda url, line, column: parsed.lookup(line, column))
    assert text == stack


def test_garbage_never_raises() -> None:
    rng = random.Random(21)
    alphabet = "at @:()/\\.-_ \t\r\n0123456789abcxyz<>[]*?#%é\x00"
    recorder = Recorder()
    for _ in range(2000):
        stack = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 200)))
        text, changed = rewrite(stack, Recorder(None))
        assert (text, changed) == (stack, False)
        text, changed = rewrite(stack, recorder)
        assert text.count("\n") == stack.count("\n")
        frame_urls(stack)
    for _ in range(300):
        case = rng.choice(STACKS)
        chars = list(case[rng.choice(["chrome", "firefox"])])
        for _ in range(rng.randrange(1, 6)):
            chars[rng.randrange(len(chars))] = rng.choice(alphabet)
        stack = "".join(chars)
        text, _ = rewrite(stack, recorder)
        assert text.count("\n") == stack.count("\n")


def test_empty_stack() -> None:
    assert rewrite("", Recorder()) == ("", False)
    assert frame_urls("") == []
