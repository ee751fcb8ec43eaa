"""`python -m <service>` as an operator runs it: start-up errors, healthcheck, SIGTERM."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from error_tracker import SERVICE as TRACKER
from shared.server import redact
from tests.conftest import AUTH, tracker_config
from tests.helpers import ROOT, ServiceProcess, free_port, tracker_env


def run_module(
    *args: str, env: dict[str, str], timeout: float = 20
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("API_KEY", "PORT", "LOG_LEVEL")}
    return subprocess.run(
        [sys.executable, "-m", "error_tracker", *args],
        env={**base, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_unknown_argument_prints_usage(tmp_path: Path) -> None:
    done = run_module("--bogus", env={"API_KEY": "k"})
    assert done.returncode == 2 and "usage" in done.stderr


def test_healthcheck_fails_fast_when_nothing_listens() -> None:
    start = time.monotonic()
    done = run_module("--healthcheck", env={"PORT": str(free_port())})
    assert time.monotonic() - start < 5
    assert done.returncode == 1
    assert len(done.stdout.strip().splitlines()) == 1 and "unhealthy" in done.stdout


def test_running_service_healthcheck_sigterm_and_no_key_in_logs(tmp_path: Path) -> None:
    secret = "very-secret-key-123"
    env = tracker_env(tmp_path, API_KEY=secret, LOG_LEVEL="debug")
    service = ServiceProcess("error_tracker", env).start()
    try:
        start = time.monotonic()
        done = run_module("--healthcheck", env={"PORT": str(service.port)})
        assert time.monotonic() - start < 5
        assert done.returncode == 0, done.stdout
        assert len(done.stdout.strip().splitlines()) == 1

        with httpx.Client(base_url=service.url, timeout=10) as client:
            r = client.post(
                "/api/errors",
                params={"api_key": secret},
                json={
                    "project": "p",
                    "exception_type": "E",
                    "message": "before stop",
                    "traceback": "",
                },
            )
            assert r.status_code == 201
            assert client.get("/api/errors", params={"api_key": secret}).status_code == 200
            assert client.get("/api/errors", headers={**AUTH}).status_code == 401
    finally:
        code = service.stop()
    assert code == 0
    log = service.log()
    assert secret not in log
    assert "api_key=" in log  # the request was logged, with the key redacted
    with sqlite3.connect(tmp_path / "errors.db") as conn:
        assert conn.execute("SELECT message FROM errors").fetchall() == [("before stop",)]


def test_database_directory_is_created(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "errors.db"
    with TestClient(TRACKER.app(tracker_config(tmp_path, DATABASE_PATH=str(path)))) as client:
        assert client.get("/health").json() == {"status": "ok"}
    assert path.exists()


def test_redact_hides_keys_in_urls() -> None:
    line = "GET /api/errors?project=p&api_key=abc123&limit=5 HTTP/1.1"
    assert redact(line) == "GET /api/errors?project=p&api_key=[redacted]&limit=5 HTTP/1.1"
    assert redact("/x?api_key=") == "/x?api_key=[redacted]"
    beacon = "POST /api/browser/metrics?key=0123abcd HTTP/1.1"
    assert redact(beacon) == "POST /api/browser/metrics?key=[redacted] HTTP/1.1"
    assert redact("/x?a=1&key=k&monkey=m") == "/x?a=1&key=[redacted]&monkey=m"


def test_log_lines_never_carry_a_key_wherever_it_appears(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import logging

    from shared.server import configure_logging

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("info")
        log = logging.getLogger("monlight.test")
        log.info("GET /api/errors?api_key=secret-in-format answered %d", 200)
        log.info("fetching %(url)s", {"url": "/api/x?api_key=secret-in-mapping"})
        try:
            raise ValueError("bad url /api/x?api_key=secret-in-traceback")
        except ValueError:
            log.exception("request failed")
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    err = capsys.readouterr().err
    assert "secret" not in err
    assert "GET /api/errors?api_key=[redacted] answered 200" in err
    assert "fetching /api/x?api_key=[redacted]" in err
    assert "ValueError: bad url /api/x?api_key=[redacted]" in err


def test_a_busy_port_is_one_line_naming_what_to_change(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = run_module(env={**tracker_env(tmp_path), "HOST": "127.0.0.1", "PORT": str(port)})
        assert done.returncode == 1
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert "in use" in lines[0] and "PORT" in lines[0]

        stack = subprocess.run(
            [sys.executable, "-m", "shared.stack"],
            env={
                **os.environ,
                "MONLIGHT_BASE_PORT": str(port),
                "MONLIGHT_DATA_DIR": str(tmp_path / "stack"),
            },
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert stack.returncode == 1
    lines = stack.stderr.strip().splitlines()
    assert len(lines) == 1, stack.stderr
    assert "in use" in lines[0] and "MONLIGHT_BASE_PORT" in lines[0]
    assert "Traceback" not in stack.stderr


def test_a_real_server_ignores_forwarded_for_from_an_untrusted_local_peer(
    tmp_path: Path,
) -> None:
    """uvicorn rewrites the client address from X-Forwarded-For for 127.0.0.1 peers
    unless told not to; the gate alone decides, from TRUSTED_PROXIES (unset here)."""
    with ServiceProcess("error_tracker", tracker_env(tmp_path, RATE_LIMIT="1")) as service:
        first = httpx.get(f"{service.url}/api/errors", headers={"X-Forwarded-For": "9.9.9.1"})
        assert first.status_code == 401
        second = httpx.get(f"{service.url}/api/errors", headers={"X-Forwarded-For": "9.9.9.2"})
        assert second.status_code == 429  # the same client, 127.0.0.1, whatever it claims
