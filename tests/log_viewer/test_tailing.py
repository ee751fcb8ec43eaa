"""Reading log files from a cursor on real files: first sight, growth, rotation, truncation."""

from __future__ import annotations

import os
from pathlib import Path

from log_viewer.tailing import Position, Segment, read_new, rotated


def write(path: Path, data: bytes, mode: str = "ab") -> None:
    with path.open(mode) as f:
        f.write(data)


def lines(n: int, prefix: str = "l") -> bytes:
    return b"".join(f"{prefix}{i:04d}\n".encode() for i in range(n))


def consume(path: Path, cursor: Position | None, tail: int = 64, max_read: int = 1 << 20):
    segments = read_new(path, cursor, tail, max_read)
    data = b"".join(s.data for s in segments)
    return data, (segments[-1].end if segments else cursor), segments


def test_first_sight_reads_the_tail_from_a_line_start(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    write(log, lines(100))  # 6 bytes a line
    data, cursor, (seg,) = consume(log, None, tail=64)
    assert data == lines(100)[-60:] and seg.fresh  # 10 whole lines, not a torn one
    assert cursor == Position(os.stat(log).st_ino, 600)


def test_a_small_file_is_read_whole_and_a_missing_one_not_at_all(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    assert consume(log, None)[0] == b""
    write(log, lines(3))
    assert consume(log, None, tail=1000)[0] == lines(3)


def test_growth_is_read_from_the_cursor(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    write(log, lines(3))
    _, cursor, _ = consume(log, None, tail=1000)
    write(log, b"more\n")
    data, cursor, (seg,) = consume(log, cursor)
    assert data == b"more\n" and not seg.fresh and cursor.offset == 23
    assert consume(log, cursor)[0] == b""


def test_truncation_reads_again_from_the_start(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    write(log, lines(10))
    _, cursor, _ = consume(log, None, tail=1000)
    inode = os.stat(log).st_ino
    write(log, b"new\n", "r+b")
    os.truncate(log, 4)
    assert os.stat(log).st_ino == inode
    data, cursor, (seg,) = consume(log, cursor)
    assert data == b"new\n" and seg.fresh and cursor == Position(inode, 4)


def test_rotation_finishes_the_old_file_then_reads_the_new(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    write(log, lines(3))
    _, cursor, _ = consume(log, None, tail=1000)
    write(log, b"last of old\n")  # written after our read, before the rotation
    os.rename(log, rotated(log))
    write(log, b"first of new\n")
    data, cursor, segments = consume(log, cursor)
    assert data == b"last of old\nfirst of new\n"
    assert [s.fresh for s in segments] == [False, True]
    assert cursor == Position(os.stat(log).st_ino, 13)


def test_a_big_rotated_rest_is_finished_over_several_reads(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    write(log, b"")
    cursor = Position(os.stat(log).st_ino, 0)
    write(log, lines(100))
    os.rename(log, rotated(log))
    write(log, b"new\n")
    seen = b""
    for _ in range(10):
        data, cursor, _ = consume(log, cursor, max_read=250)
        seen += data
    assert seen == lines(100) + b"new\n"


def test_a_vanished_old_file_goes_straight_to_the_new(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    write(log, lines(2))
    _, cursor, _ = consume(log, None, tail=1000)
    log.unlink()
    write(log, b"fresh\n")
    assert consume(log, cursor)[0] == b"fresh\n"


def test_a_deleted_container_reads_nothing(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    write(log, lines(2))
    _, cursor, _ = consume(log, None, tail=1000)
    log.unlink()
    assert consume(log, cursor) == (b"", cursor, [])


def test_segments_know_where_they_end() -> None:
    assert Segment(7, 10, b"abc", False).end == Position(7, 13)
