"""Test helpers: real services in subprocesses on free loopback ports."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate, timeout: float = 15.0, interval: float = 0.02, what: str = "") -> None:
    """Poll a condition (an event we cannot await directly) until it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what or predicate}")


@dataclass
class ServiceProcess:
    """`python -m <package>` on a free port, as an operator would run it."""

    package: str
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> ServiceProcess:
        env = {**os.environ, **self.env, "HOST": "127.0.0.1", "PORT": str(self.port)}
        env.setdefault("RATE_LIMIT", "0")
        self.log_path = Path(env["DATABASE_PATH"]).with_suffix(f".{self.port}.log")
        log = open(self.log_path, "wb")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.package], env=env, cwd=ROOT, stdout=log, stderr=log
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.package} exited: {self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.package} did not become healthy: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def collector_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A collector whose aggregation worker stays out of the way unless a test runs it."""
    env = {
        "API_KEY": "test-key",
        "DATABASE_PATH": str(tmp_path / "metrics.db"),
        "RATE_LIMIT": "0",
        "AGGREGATION_INTERVAL": "3600",
    }
    env.update(extra)
    return env


def tracker_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {"API_KEY": "test-key", "DATABASE_PATH": str(tmp_path / "errors.db")}
    env.update(extra)
    return env


#: Where `make test` installs the published monlight 0.3.0 (see the Makefile).
PUBLISHED_CLIENT_DIR = ROOT / ".venv" / "test-cache" / "monlight-0.3.0"


def published_client_dir() -> Path:
    """The published monlight 0.3.0, isolated in its own dir by `make test`'s install step.

    It shares the import name `monlight` with our own client, so it is never
    installed into the project's venv: tests run it in a subprocess with this
    directory first on PYTHONPATH (httpx comes from the venv, as 0.3.0 needs).
    The tests themselves stay offline.
    """
    if not (PUBLISHED_CLIENT_DIR / "monlight" / "__init__.py").exists():
        raise RuntimeError(
            f"the published monlight 0.3.0 is not in {PUBLISHED_CLIENT_DIR}: run `make test`"
        )
    return PUBLISHED_CLIENT_DIR


def run_published_client(client_dir: Path, code: str, timeout: float = 60.0) -> str:
    """Run `code` with the published client importable as `monlight`; return stdout."""
    env = {**os.environ, "PYTHONPATH": str(client_dir)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise AssertionError(f"client script failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


class StackProcess:
    """`python -m shared.stack` — what `make run` starts — on free ports, in a temp data dir.

    `url(service)` is a member's address; `log()` the stack's output. Stopped with
    SIGTERM, which must exit 0.
    """

    def __init__(self, tmp_path: Path, key: str, **env: str) -> None:
        from shared.service import discover

        self.base = free_base_port(1 + max(s.port_offset for s in discover(ROOT)))
        self.log_path = tmp_path / "stack.log"
        self.env = {
            **os.environ,
            "MONLIGHT_BASE_PORT": str(self.base),
            "MONLIGHT_DATA_DIR": str(tmp_path / "data"),
            "MONLIGHT_API_KEY": key,
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, service: Any) -> str:
        return f"http://127.0.0.1:{self.base + service.port_offset}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def __enter__(self) -> StackProcess:
        with self.log_path.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "shared.stack"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=out,
            )
        return self

    def running(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, self.log()
        return True

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=30) == 0, self.log()


def free_base_port(count: int) -> int:
    """A base port with `count` free ports from it (the stack binds base + offset)."""
    for _ in range(50):
        base = random.randrange(20_000, 60_000)
        try:
            for port in range(base, base + count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port range")
