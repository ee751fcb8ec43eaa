"""Multiline reassembly: tracebacks, Java stack traces and indented continuations."""

from __future__ import annotations

from log_viewer.multiline import MAX_ENTRY_LINES, Entry, Reassembler
from log_viewer.parsing import Line

T = "2026-12-02T10:00:00.000000001Z"


def entries(texts: list[str | tuple[str, str]]) -> list[Entry]:
    """Feed lines (text, or (stream, text)) 10 bytes each; flush at the end."""
    out: list[Entry] = []
    r = Reassembler()
    for i, item in enumerate(texts):
        stream, text = item if isinstance(item, tuple) else ("stdout", item)
        out += r.feed(Line(T, stream, text, i * 10, i * 10 + 10))
    return out + r.flush()


PY_TRACEBACK = [
    "ERROR app: checkout failed",
    "Traceback (most recent call last):",
    '  File "/app/main.py", line 51, in coupon',
    "    return apply(code)",
    "           ^^^^^^^^^^^",
    '  File "/app/pricing.py", line 12, in apply',
    "    raise ValueError(f'bad coupon {code}')",
    "ValueError: bad coupon X1",
]


def test_a_python_traceback_is_one_entry_with_its_message() -> None:
    (entry, after) = entries([*PY_TRACEBACK, "INFO app: next request"])
    assert entry.lines == PY_TRACEBACK and entry.level == "ERROR"
    assert (entry.start, entry.end) == (0, 80)
    assert after.message == "INFO app: next request" and after.level == "INFO"


def test_a_bare_traceback_starts_its_own_entry() -> None:
    (entry,) = entries([(("stderr"), line) for line in PY_TRACEBACK[1:]])
    assert entry.lines[0].startswith("Traceback") and entry.level == "ERROR"
    assert entry.lines[-1] == "ValueError: bad coupon X1"


def test_chained_tracebacks_stay_together() -> None:
    chained = [
        "Traceback (most recent call last):",
        '  File "a.py", line 1, in <module>',
        "KeyError: 'x'",
        "",
        "During handling of the above exception, another exception occurred:",
        "",
        "Traceback (most recent call last):",
        '  File "a.py", line 3, in <module>',
        "RuntimeError",
    ]
    (entry, nxt) = entries([*chained, "", "served"])
    assert entry.lines == chained
    assert [nxt.message] == ["served"] or nxt.message == ""


def test_after_a_traceback_ends_a_normal_line_is_new() -> None:
    out = entries(["Traceback (most recent call last):", '  File "a.py"', "OSError: x", "done"])
    assert [e.lines[-1] for e in out] == ["OSError: x", "done"]


def test_a_java_stack_trace_is_one_entry() -> None:
    java = [
        'Exception in thread "main" java.lang.IllegalStateException: boom',
        "\tat com.example.App.run(App.java:10)",
        "\tat com.example.App.main(App.java:5)",
        "Caused by: java.lang.NullPointerException",
        "\tat com.example.Dao.load(Dao.java:42)",
        "\t... 2 more",
    ]
    (entry, nxt) = entries([*java, "2026-12-02 10:00:01 INFO started"])
    assert entry.lines == java and nxt.level == "INFO"


def test_node_frames_and_indented_continuations() -> None:
    node = ["TypeError: x is undefined", "    at f (/app/a.js:1:2)", "at g (/app/b.js:3:4)"]
    (entry,) = entries(node)
    assert entry.lines == node
    (entry,) = entries(["config:", "  port: 80", "\thost: x"])
    assert entry.message == "config:\n  port: 80\n\thost: x"


def test_streams_never_mix() -> None:
    out = entries([("stdout", "request"), ("stderr", "  indented on stderr"), ("stdout", "  more")])
    by_stream = {e.stream: e.lines for e in out}
    assert by_stream == {"stdout": ["request", "  more"], "stderr": ["  indented on stderr"]}


def test_an_open_entry_holds_the_cursor() -> None:
    r = Reassembler()
    assert r.feed(Line(T, "stdout", "first", 0, 10)) == []
    assert r.held == 0
    (done,) = r.feed(Line(T, "stdout", "second", 10, 20))
    assert done.message == "first" and r.held == 10
    assert [e.message for e in r.flush()] == ["second"] and r.held is None


def test_huge_continuations_are_cut_into_bounded_entries() -> None:
    out = entries(["dump:", *(["  row"] * (MAX_ENTRY_LINES + 5))])
    assert [len(e.lines) for e in out] == [MAX_ENTRY_LINES, 6]


def test_open_entries_survive_a_restart_through_their_state() -> None:
    import orjson

    r = Reassembler()
    for i, text in enumerate(PY_TRACEBACK[:4]):
        r.feed(Line(T, "stderr", text, i * 10, i * 10 + 10))
    again = Reassembler.restore(orjson.loads(orjson.dumps(r.state())))
    for i, text in enumerate(PY_TRACEBACK[4:], start=4):
        assert again.feed(Line(T, "stderr", text, i * 10, i * 10 + 10)) == []
    (entry,) = again.flush()
    assert entry.lines == PY_TRACEBACK and (entry.start, entry.end) == (0, 80)
