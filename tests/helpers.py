"""Test helpers: real services in subprocesses on free loopback ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

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
