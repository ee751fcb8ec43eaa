"""Docker json-file records → lines: partial records, 16 KiB pieces, bad records, bad bytes."""

from __future__ import annotations

import orjson
import pytest

from log_viewer.parsing import MAX_LINE, Line, LineReader, decode_record

T = "2026-12-02T10:00:00.123456789Z"


def rec(log: str, stream: str = "stdout", time: str = T) -> bytes:
    return orjson.dumps({"log": log, "stream": stream, "time": time}) + b"\n"


def test_whole_lines_with_their_offsets() -> None:
    data = rec("hello\n") + rec("boom\n", "stderr")
    lines, used = LineReader().feed(data, 100)
    first = len(rec("hello\n"))
    assert lines == [
        Line(T, "stdout", "hello", 100, 100 + first),
        Line(T, "stderr", "boom", 100 + first, 100 + len(data)),
    ]
    assert used == 100 + len(data)


def test_a_half_written_record_waits_for_its_newline() -> None:
    whole = rec("complete me\n")
    reader = LineReader()
    lines, used = reader.feed(whole[:-5], 0)
    assert (lines, used) == ([], 0)
    lines, used = reader.feed(whole, 0)  # read again from the cursor, now whole
    assert [line.text for line in lines] == ["complete me"] and used == len(whole)


def test_docker_pieces_of_a_long_line_are_joined() -> None:
    text = "x" * 40 * 1024
    pieces = [text[i : i + 16384] for i in range(0, len(text), 16384)]
    data = (
        b"".join(rec(p) for p in pieces[:-1]) + rec("between\n", "stderr") + rec(pieces[-1] + "\n")
    )
    reader = LineReader()
    lines, used = reader.feed(data, 0)
    assert [(line.stream, len(line.text)) for line in lines] == [("stderr", 7), ("stdout", 40960)]
    assert lines[1].text == text and lines[1].start == 0 and lines[1].end == len(data)
    assert used == len(data) and reader.held is None


def test_pieces_across_reads_hold_the_cursor() -> None:
    reader = LineReader()
    first = rec("a" * 16384)
    lines, used = reader.feed(first, 0)
    assert lines == [] and used == len(first) and reader.held == 0
    lines, _ = reader.feed(rec("b\n"), used)
    assert [line.text for line in lines] == ["a" * 16384 + "b"] and reader.held is None


def test_a_megabyte_line() -> None:
    text = "y" * (1024 * 1024 + 7)
    data = b"".join(rec(text[i : i + 16384]) for i in range(0, len(text), 16384)) + rec("\n")
    (line,), _ = LineReader().feed(data, 0)
    assert line.text == text


def test_a_runaway_line_is_stored_in_parts() -> None:
    piece = "z" * 16384
    count = MAX_LINE // len(piece) + 1
    reader = LineReader()
    lines, _ = reader.feed(b"".join(rec(piece) for _ in range(count)), 0)
    assert len(lines) == 1 and len(lines[0].text) == MAX_LINE  # then a new line begins
    assert reader.held == lines[0].end


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1, 2]",
        b'{"log": 5, "time": "t"}',
        b'{"stream": "stdout"}',
        b'{"log": "x\\n"}',
    ],
)
def test_malformed_records_are_skipped_and_counted(raw: bytes) -> None:
    reader = LineReader()
    lines, used = reader.feed(raw + b"\n" + rec("after\n"), 0)
    assert [line.text for line in lines] == ["after"] and reader.malformed == 1
    assert used == len(raw) + 1 + len(rec("after\n"))


def test_bytes_that_are_not_utf8_are_replaced() -> None:
    raw = b'{"log":"caf\xe9 \xff ok\\n","stream":"stdout","time":"' + T.encode() + b'"}\n'
    (line,), _ = LineReader().feed(raw, 0)
    assert line.text == "caf\ufffd \ufffd ok"


def test_windows_line_endings_and_unknown_streams() -> None:
    record = decode_record(orjson.dumps({"log": "x\r\n", "stream": "weird", "time": T}))
    assert record is not None and record.stream == "stdout"
    (line,), _ = LineReader().feed(rec("x\r\n"), 0)
    assert line.text == "x"


def test_blank_records_and_empty_lines() -> None:
    lines, _ = LineReader().feed(b"\n   \n" + rec("\n"), 0)
    assert [line.text for line in lines] == [""]


def test_reset_drops_pieces_of_a_rotated_file() -> None:
    reader = LineReader()
    reader.feed(rec("orphan piece"), 0)
    reader.reset()
    assert reader.held is None
    (line,), _ = reader.feed(rec("fresh\n"), 0)
    assert line.text == "fresh"


def test_unfinished_pieces_survive_a_restart_through_their_state() -> None:
    reader = LineReader()
    reader.feed(rec("first half, ", "stderr") + rec("out\n"), 0)
    state = orjson.loads(orjson.dumps(reader.state()))  # as stored on the cursor row
    again = LineReader.restore(state)
    rest = rec("second half\n", "stderr")
    (line,), _ = again.feed(rest, 500)
    assert (line.text, line.start, line.end) == ("first half, second half", 0, 500 + len(rest))
