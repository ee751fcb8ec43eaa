"""The real services as an operator starts them: subprocesses on loopback ports."""

from __future__ import annotations

import os
import platform
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-key"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_block(size: int, tries: int = 50) -> int:
    """A base port with `size` consecutive free ports (the stack listens on base+0..)."""
    # Below the ephemeral range (32768+), where the kernel hands out neighbours
    # of a just-freed port to outgoing connections.
    rng = random.Random()
    for _ in range(tries):
        base = rng.randrange(20_000, 32_000 - size)
        socks = []
        try:
            for port in range(base, base + size):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no block of {size} free ports found")


def http_status(url: str, timeout: float = 1.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def request(
    url: str, *, method: str = "GET", body: bytes | None = None, api_key: str | None = API_KEY
) -> tuple[int, bytes]:
    """One HTTP request (setup and warm-up only; loads go through wrk)."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if api_key:
        headers["X-API-Key"] = api_key
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Service:
    """A server process started with `python -m <module>`, healthy before use.

    `ports` are the ports whose /health must answer 200 (one per service;
    the one-process stack has several).
    """

    def __init__(
        self,
        module: str,
        env: Mapping[str, str],
        ports: Sequence[int],
        log_path: Path,
        args: Sequence[str] = (),
    ) -> None:
        self.module = module
        self.args = list(args)
        self.env = {**os.environ, **env}
        self.ports = list(ports)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports[0]}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> Service:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module, *self.args],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=log,
            )
        pending = list(self.ports)
        deadline = time.monotonic() + timeout
        while pending:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.module} exited at start-up: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.module} did not become healthy: {self.log_tail()}")
            if http_status(f"http://127.0.0.1:{pending[0]}/health") == 200:
                pending.pop(0)
            else:
                time.sleep(0.02)
        return self

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait: the graceful shutdown an operator's `docker stop` does."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.exit_code = self.proc.returncode
        return self.exit_code

    def memory_kb(self) -> dict[str, int]:
        """VmRSS (now) and VmHWM (peak) of the server process, in KiB."""
        out: dict[str, int] = {}
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    out[name] = int(value.split()[0])
        return out

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far, all threads."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        # Fields 14 and 15 of stat(5), counted after the parenthesised command name.
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def wait_idle(
        self, *, window: float = 1.0, busy_below: float = 0.05, timeout: float = 300.0
    ) -> float:
        """Wait until the server's background start-up work (index builds,
        retention) is done: CPU use under `busy_below` of a core over `window`
        seconds. Returns the seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            before = self.cpu_seconds()
            time.sleep(window)
            if (self.cpu_seconds() - before) / window < busy_below:
                break
        return time.monotonic() - started

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def service_env(database_path: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment every benchmarked service gets: loopback, no rate limit."""
    return {
        "API_KEY": API_KEY,
        "DATABASE_PATH": str(database_path),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "RATE_LIMIT": "0",
        "LOG_LEVEL": "warn",
        **extra,
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _wrk_version() -> str:
    try:
        done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    except OSError:
        return "not installed"
    first = (done.stdout or done.stderr).splitlines()
    return first[0].split(" Copyright")[0] if first else "unknown"


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def machine_facts() -> dict[str, str]:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": _wrk_version(),
        "kernel": platform.release(),
    }
