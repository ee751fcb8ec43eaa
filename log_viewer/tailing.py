"""Reading a container's log file from where the last read stopped.

A cursor is (inode, offset). Per read:

* first sight of a file: start `TAIL_BUFFER` bytes before its end, at the
  next line boundary (older history is not replayed into the database);
* same inode, the file grew: read on from the offset;
* same inode, the file is shorter than the offset: it was truncated — read
  it from the start;
* another inode: Docker rotated it (renamed to `-json.log.1`, a new file
  in its place) — finish the old file's remaining bytes if it is still
  there, then read the new one from the start.

Reads are bounded (MAX_READ bytes per file and call), so a backlog is
caught up over several reads, each stored with its cursor.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: Bytes read from one file in one go.
MAX_READ = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Position:
    inode: int
    offset: int


@dataclass(frozen=True, slots=True)
class Segment:
    """Bytes read from one file, starting at `offset` in it."""

    inode: int
    offset: int
    data: bytes
    #: The first bytes read of this file: state carried from another file must not continue.
    fresh: bool

    @property
    def end(self) -> Position:
        return Position(self.inode, self.offset + len(self.data))


def rotated(path: Path) -> Path:
    return path.with_name(path.name + ".1")


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except OSError:
        return None


def _read(path: Path, offset: int, size: int) -> bytes:
    if size <= 0:
        return b""
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read(size)
    except OSError:
        return b""


def first_read(path: Path, st: os.stat_result, tail_buffer: int, max_read: int) -> Segment:
    """A file seen for the first time: its last `tail_buffer` bytes, from a line start."""
    start = max(0, st.st_size - tail_buffer)
    if start == 0:
        return Segment(st.st_ino, 0, _read(path, 0, min(st.st_size, max_read)), True)
    data = _read(path, start - 1, min(st.st_size - start + 1, max_read))
    newline = data.find(b"\n")
    if newline < 0:  # no line boundary in the buffer: wait for one
        return Segment(st.st_ino, st.st_size, b"", True)
    return Segment(st.st_ino, start + newline, data[newline + 1 :], True)


def read_new(
    path: Path, cursor: Position | None, tail_buffer: int, max_read: int = MAX_READ
) -> list[Segment]:
    """What to read now, in order (an old rotated file's rest first)."""
    st = _stat(path)
    if cursor is None:
        return [] if st is None else [first_read(path, st, tail_buffer, max_read)]
    if st is not None and st.st_ino == cursor.inode:
        if st.st_size < cursor.offset:  # truncated in place
            return [Segment(st.st_ino, 0, _read(path, 0, min(st.st_size, max_read)), True)]
        size = min(st.st_size - cursor.offset, max_read)
        return [Segment(st.st_ino, cursor.offset, _read(path, cursor.offset, size), False)]
    segments: list[Segment] = []
    old = rotated(path)
    old_st = _stat(old)
    if old_st is not None and old_st.st_ino == cursor.inode and old_st.st_size > cursor.offset:
        size = min(old_st.st_size - cursor.offset, max_read)
        rest = _read(old, cursor.offset, size)
        segments.append(Segment(cursor.inode, cursor.offset, rest, False))
        if cursor.offset + len(rest) < old_st.st_size:
            return segments  # more of the old file next time, before the new one
    if st is not None:
        segments.append(Segment(st.st_ino, 0, _read(path, 0, min(st.st_size, max_read)), True))
    return segments
