"""Driving `wrk` and reading its `--latency` report."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Connection modes every load runs in: what real clients do, and what the
#: earlier implementation could only do.
KEEP_ALIVE = "keep-alive"
CLOSE = "close"
MODES = (KEEP_ALIVE, CLOSE)

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_DURATION = re.compile(r"^\s*([\d.]+)(us|ms|s|m|h)\s*$")


class WrkError(RuntimeError):
    """wrk could not run or printed something we cannot read."""


@dataclass(frozen=True, slots=True)
class Load:
    """One wrk load: what to send and how hard. Headers apply to every request."""

    path: str
    connections: int = 32
    #: A Lua script in bench/ (POST bodies); None for a plain GET.
    script: str | None = None
    script_args: Sequence[str] = ()
    headers: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    rps: float
    #: None when no request completed (wrk prints zeros then).
    p50_ms: float | None
    p99_ms: float | None
    non_2xx: int
    socket_errors: dict[str, int] = field(default_factory=dict)
    #: Server CPU seconds (user + system, all threads) spent during the run.
    server_cpu_s: float | None = None

    @property
    def cpu_us_per_request(self) -> float | None:
        """Server CPU per answered request: steadier than req/s on a shared machine."""
        if self.server_cpu_s is None or not self.requests:
            return None
        return self.server_cpu_s / self.requests * 1e6

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())


def duration_ms(text: str) -> float:
    """`812.00us` / `1.25ms` / `2.01s` → milliseconds."""
    match = _DURATION.match(text)
    if not match:
        raise WrkError(f"unreadable wrk duration {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse(output: str) -> WrkResult:
    """Read requests/s, p50, p99, non-2xx and socket errors from `wrk --latency`."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s*(\d+) requests in ", output, re.M)
    dist = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)", output, re.M))
    if not rps or not total or "50" not in dist or "99" not in dist:
        raise WrkError(f"unexpected wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    socket_errors: dict[str, int] = {}
    if sockets:
        for name, value in zip(
            ("connect", "read", "write", "timeout"), sockets.groups(), strict=True
        ):
            if int(value):
                socket_errors[name] = int(value)
    requests = int(total.group(1))
    return WrkResult(
        requests=requests,
        rps=float(rps.group(1)),
        p50_ms=duration_ms(dist["50"]) if requests else None,
        p99_ms=duration_ms(dist["99"]) if requests else None,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=socket_errors,
    )


def wrk_executable() -> str:
    exe = shutil.which("wrk")
    if exe is None:
        raise WrkError("wrk is not installed: run `bash scripts/ensure-system-deps.sh wrk`")
    return exe


def command(
    url: str, load: Load, mode: str, *, duration: float, threads: int, exe: str = "wrk"
) -> list[str]:
    """wrk's argv (`exe` is the program to name first)."""
    threads = max(1, min(threads, load.connections))
    argv = [
        exe,
        f"-t{threads}",
        f"-c{load.connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "5s",
        "--latency",
    ]
    headers = list(load.headers)
    if mode == CLOSE:
        headers.append(("Connection", "close"))
    for name, value in headers:
        argv += ["-H", f"{name}: {value}"]
    if load.script:
        argv += ["-s", str(HERE / load.script)]
    argv.append(url + load.path)
    if load.script_args:
        argv += ["--", *load.script_args]
    return argv


def run(url: str, load: Load, mode: str, *, duration: float, threads: int) -> WrkResult:
    argv = command(url, load, mode, duration=duration, threads=threads, exe=wrk_executable())
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60, check=False)
    if done.returncode != 0:
        raise WrkError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout}")
    return parse(done.stdout)
