"""`--profile`: py-spy samples of the server during each run, and a text summary.

py-spy is a development tool, not a dependency: install it into the venv
by hand (`.venv/bin/pip install py-spy`) when you want profiles.
"""

from __future__ import annotations

import functools
import linecache
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

_THREAD = re.compile(r"^thread \((\d+)\)(?::\s*(.*))?$")
_LINE = re.compile(r"\s*\(([^)]*?)(?::\d+)?\)$")


def py_spy() -> str:
    exe = Path(sys.executable).parent / "py-spy"
    found = str(exe) if exe.exists() else shutil.which("py-spy")
    if not found:
        raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
    return found


def start_recording(
    pid: int, out: Path, duration: float, gil: bool = False
) -> subprocess.Popen[bytes]:
    """Sample `pid` for `duration` s into `<out>.txt` (collapsed stacks, per thread).

    With `gil`, only samples holding the GIL count: what bounds the event loop,
    while SQLite work (which releases the GIL) drops out.
    """
    return subprocess.Popen(
        [
            py_spy(),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, round(duration))),
            "--rate",
            "200",
            "--format",
            "raw",
            "--threads",
            "--nonblocking",
            "--output",
            f"{out}.txt",
            *(["--gil"] if gil else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


#: Where the event loop's time goes, by the innermost frame that matches.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "writer handoff (submit, wake-up, futures)",
        ("Writer.submit", "Writer._flush_tick", "_set_all", "Writer._resolve"),
    ),
    (
        "reader pool handoff",
        ("Reader.run", "ThreadPoolExecutor.submit", "_copy_future_state", "_chain_future"),
    ),
    ("JSON render (orjson)", ("JSONResponse.render",)),
    ("validation + JSON parse", ("parse_report", "shared/validate.py")),
    ("fingerprint", ("error_tracker/fingerprint.py",)),
    ("handlers", ("error_tracker/", "metrics_collector/", "log_viewer/", "browser_relay/")),
    ("our middleware", ("shared/middleware.py",)),
    ("starlette", ("starlette/",)),
    ("uvicorn + httptools", ("uvicorn/",)),
    ("event loop (uvloop, C)", ("Runner.run",)),
)
_FRAME = re.compile(r"\((.+):(\d+)\)$")
_SEARCH_PATH = [Path(p) for p in sys.path if p] + [Path(__file__).resolve().parent.parent]


@functools.cache
def source_line(frame: str) -> str:
    """The source of a `fn (short/path.py:N)` frame, looked up on sys.path."""
    match = _FRAME.search(frame)
    if not match:
        return ""
    for base in _SEARCH_PATH:
        path = base / match.group(1)
        if path.exists():
            return linecache.getline(str(path), int(match.group(2)))
    return ""


def category(group: str, frames: list[str]) -> str:
    """What one sample was doing: the thread for pool threads, else the code."""
    if group in ("writer", "reader"):
        return f"{group} thread (sqlite + jobs)"
    if frames and "transport.write(" in source_line(frames[-1]):
        # uvloop sends on the socket right away, inside write(), holding the GIL.
        return "socket write (transport.write)"
    for frame in reversed(frames):
        for label, needles in CATEGORIES:
            if any(needle in frame for needle in needles):
                return label
    return "other"


def thread_group(name: str) -> str:
    """reader_3 → reader, writer:errors.db → writer, MainThread → event loop."""
    if name == "MainThread":
        return "event loop"
    if name.startswith("writer"):
        return "writer"
    if name.startswith("reader"):
        return "reader"
    return name or "unnamed"


def function_of(frame: str) -> str:
    """`store (error_tracker/ingestion.py:95)` → `store (error_tracker/ingestion.py)`."""
    return _LINE.sub(lambda m: f" ({m.group(1)})", frame)


def summarize(path: Path, top: int = 12) -> str:
    names: dict[str, str] = {}
    stacks: list[tuple[str, list[str], int]] = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        match = _THREAD.match(frames[0])
        if not match:
            continue
        tid = match.group(1)
        if match.group(2):
            names[tid] = match.group(2)
        stacks.append((tid, frames[1:], int(count)))
    total = sum(count for _, _, count in stacks) or 1
    by_group: Counter[str] = Counter()
    by_category: Counter[str] = Counter()
    self_time: dict[str, Counter[str]] = {}
    inclusive: dict[str, Counter[str]] = {}
    for tid, frames, count in stacks:
        group = thread_group(names.get(tid, ""))
        by_group[group] += count
        by_category[category(group, frames)] += count
        if frames:
            self_time.setdefault(group, Counter())[frames[-1]] += count
        seen = {function_of(f) for f in frames}
        for fn in seen:
            inclusive.setdefault(group, Counter())[fn] += count
    out = [f"## {path.name}: {total} busy samples"]
    out.append("threads: " + ", ".join(f"{g} {n / total:.0%}" for g, n in by_group.most_common()))
    out.append("where (innermost matching frame):")
    out += [f"  {n / total:6.1%}  {label}" for label, n in by_category.most_common()]
    for group, _ in by_group.most_common(3):
        out.append(f"### {group}: self (leaf line)")
        out += [f"  {n / total:6.1%}  {fn}" for fn, n in self_time[group].most_common(top)]
        out.append(f"### {group}: inclusive (function)")
        out += [f"  {n / total:6.1%}  {fn}" for fn, n in inclusive[group].most_common(top * 2)]
    return "\n".join(out)


def summarize_dir(directory: Path) -> str:
    parts = []
    for path in sorted(directory.glob("*.txt")):
        summary = summarize(path)
        (directory / f"{path.stem}.summary").write_text(summary + "\n")
        parts.append(summary)
    return "\n\n".join(parts)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(summarize(Path(arg)))
