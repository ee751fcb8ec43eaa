"""The contract every declared service keeps, as checks any service can be put through.

tests/test_contract.py runs them over every service `discover()` finds, so a
new service gets them by declaring itself; tests/shared/test_service.py runs
them over a throwaway service declared in a temp package.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from shared import config_docs
from shared.app import runtime
from shared.db import Database, StorageError, WriterDead
from shared.server import healthcheck
from shared.service import Service
from tests.helpers import ROOT, ServiceProcess, free_port

KEY = "contract-key"


def service_env(service: Service[Any, Any], tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        service.key_var: KEY,
        "DATABASE_PATH": str(tmp_path / service.db_file),
        "RATE_LIMIT": "0",
        **service.test_env,
    }
    env.update(extra)
    return env


def client(service: Service[Any, Any], env: Mapping[str, str]) -> TestClient:
    return TestClient(service.app(service.load(env)))


def an_api_route(service: Service[Any, Any]) -> Route:
    for route in service.routes:
        if isinstance(route, Route) and route.path.startswith("/api/") and route.methods:
            return route
    raise AssertionError(f"{service.name} declares no /api route")


def check_http(service: Service[Any, Any], tmp_path: Path) -> None:
    """Health, and JSON 401/404/405/413 with the service's real app."""
    env = service_env(service, tmp_path)
    settings = service.load(env)
    route = an_api_route(service)
    path = route.path.split("{")[0].rstrip("/") or route.path
    with client(service, env) as c:
        health = c.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "ok", health.text

        denied = c.get(path)
        assert denied.status_code == 401 and denied.json() == {"detail": "Invalid API key"}

        auth = {"X-API-Key": KEY}
        missing = c.get("/api/no-such-route-here", headers=auth)
        assert missing.status_code == 404 and missing.json()["detail"]

        assert route.methods is not None
        wrong = next(m for m in ("PATCH", "PUT", "DELETE", "POST") if m not in route.methods)
        r = c.request(wrong, path, headers=auth)
        assert r.status_code == 405 and r.json()["detail"], (wrong, path, r.text)

        big = b"x" * (settings.max_body_size + 1)
        r = c.post(path, content=big, headers=auth)
        assert r.status_code == 413 and str(settings.max_body_size) in r.json()["detail"]

        if service.ui is not None:
            page = c.get("/")
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert "default-src 'none'" in page.headers["content-security-policy"]


def check_rate_limit(service: Service[Any, Any], tmp_path: Path) -> None:
    """Keyless requests are limited per IP (429 + Retry-After); the key always passes."""
    env = service_env(service, tmp_path, RATE_LIMIT="2")
    path = an_api_route(service).path.split("{")[0].rstrip("/")
    with client(service, env) as c:
        assert [c.get(path).status_code for _ in range(2)] == [401, 401]
        limited = c.get(path)
        assert limited.status_code == 429 and limited.json()["detail"]
        assert int(limited.headers["retry-after"]) >= 1
        assert c.get(path, headers={"X-API-Key": KEY}).status_code != 429


class WriterKilled(BaseException):
    """Stands for whatever could kill a writer thread (a bug, MemoryError)."""


def check_dead_writer(service: Service[Any, Any], tmp_path: Path) -> None:
    """A writer that died: /health says so (503), and writes fail fast, never hang."""
    with client(service, service_env(service, tmp_path)) as c:
        db = runtime(c.app).db

        def explode(batch: object) -> None:
            raise WriterKilled("simulated crash")

        original = db.writer._commit
        db.writer._commit = explode  # type: ignore[method-assign]
        try:
            with pytest.raises(WriterDead):
                db.write_sync(lambda conn: conn.execute("SELECT 1"), timeout=10)
            health = c.get("/health")
            assert health.status_code == 503
            assert "writer" in health.json()["detail"] and "simulated crash" in health.text
            with pytest.raises(WriterDead):  # at once, not after a timeout
                db.write_sync(lambda conn: conn.execute("SELECT 1"), timeout=1)
        finally:
            db.writer._commit = original  # type: ignore[method-assign]


def cap_pages(db: Database, extra: int) -> None:
    """Let the database grow by `extra` pages only: SQLITE_FULL, as on a full disk."""

    def job(conn: sqlite3.Connection) -> None:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + extra}")

    db.write_sync(job)


def check_storage_full(service: Service[Any, Any], tmp_path: Path) -> None:
    """Writes refused for lack of space: StorageError (503), /health 503 saying so,
    and both heal by themselves once space is back."""
    with client(service, service_env(service, tmp_path)) as c:
        db = runtime(c.app).db

        def grow(conn: sqlite3.Connection, key: str = "contract") -> None:
            conn.execute(
                "INSERT INTO _meta (key, value) VALUES (?, randomblob(4000))"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key,),
            )

        cap_pages(db, 0)
        with pytest.raises(StorageError, match="disk full"):  # fills the free pages too
            for i in range(10_000):
                db.write_sync(lambda conn, i=i: grow(conn, f"fill-{i}"))
        health = c.get("/health")
        assert health.status_code == 503, health.text
        assert "cannot be written" in health.json()["detail"]
        cap_pages(db, 100_000)
        assert c.get("/health").status_code == 200
        db.write_sync(grow)


def run_module(
    service: Service[Any, Any], *args: str, env: Mapping[str, str], timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    keep = {k: v for k, v in os.environ.items() if k not in (service.key_var, "PORT")}
    return subprocess.run(
        [sys.executable, "-m", service.name, *args],
        env={**keep, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def check_startup_errors(
    service: Service[Any, Any], tmp_path: Path, pythonpath: str | None = None
) -> None:
    """Bad settings and a database from the future: exit 1, one line, no traceback."""
    extra = {"PYTHONPATH": pythonpath} if pythonpath else {}
    db = tmp_path / "startup" / service.db_file
    base = {**service_env(service, tmp_path), "DATABASE_PATH": str(db), **extra}
    cases = [
        ({**base, "PORT": "abc"}, "PORT"),
        ({k: v for k, v in base.items() if k != service.key_var}, service.key_var),
        ({**base, "TRUSTED_PROXIES": "not-a-network"}, "TRUSTED_PROXIES"),
    ]
    for env, named in cases:
        # In-process: the same `main()` that `python -m` runs, minus an interpreter start.
        stderr = io.StringIO()
        with mock.patch.dict(os.environ, env, clear=True), contextlib.redirect_stderr(stderr):
            code = service.main([])
        lines = stderr.getvalue().strip().splitlines()
        assert code == 1 and len(lines) == 1, stderr.getvalue()
        assert named in lines[0] and lines[0].startswith(f"{service.name}: ")
    assert not db.exists()

    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE _meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("INSERT INTO _meta VALUES ('schema_version', '999')")
    done = run_module(service, env={**base, "PORT": str(free_port())})
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "database schema version 999 is newer than this release knows" in done.stderr
    with sqlite3.connect(db) as conn:  # and left alone
        assert conn.execute("SELECT value FROM _meta").fetchall() == [("999",)]


def post_raw(port: int, path: str, size: int, *, chunked: bool) -> bytes:
    """POST `size` bytes with `Connection: close` over a plain socket; the status line."""
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\nConnection: close\r\n"
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {size}\r\n\r\n"
    piece = b"x" * 65_536
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(head.encode())
        for _ in range(size // len(piece)):
            sock.sendall(b"10000\r\n" + piece + b"\r\n" if chunked else piece)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
        return sock.recv(100).split(b"\r\n")[0]


def check_oversized_body(service: Service[Any, Any], port: int) -> None:
    """A body over the limit gets its 413, not a connection reset: the server reads
    (and drops) a bounded amount before it closes."""
    settings = service.load(service_env(service, Path("/nonexistent")))
    path = an_api_route(service).path.split("{")[0].rstrip("/")
    size = max(4 * 1024 * 1024, settings.max_body_size + 1024 * 1024)
    for chunked in (False, True, False, True):
        assert post_raw(port, path, size, chunked=chunked).startswith(b"HTTP/1.1 413")


def check_process(
    service: Service[Any, Any], tmp_path: Path, pythonpath: str | None = None
) -> None:
    """`python -m` serves, `--healthcheck` says so, SIGTERM stops it with 0."""
    extra = {"PYTHONPATH": pythonpath} if pythonpath else {}
    env = {**service_env(service, tmp_path / "process"), **extra}
    (tmp_path / "process").mkdir(exist_ok=True)
    proc = ServiceProcess(service.name, env).start()
    try:
        done = run_module(service, "--healthcheck", env={"PORT": str(proc.port), **extra})
        assert done.returncode == 0 and "healthy" in done.stdout, done.stdout
        assert f"[{service.name}]" in proc.log()  # log lines name their service
        check_oversized_body(service, proc.port)
    finally:
        assert proc.stop() == 0
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert healthcheck({"PORT": str(proc.port)}) == 1
    assert "unhealthy" in stdout.getvalue()


def check_config_docs(service: Service[Any, Any]) -> None:
    text = config_docs.sections([service])
    assert f"`python -m {service.name}`" in text
    for var in service.variables:
        assert f"| `{var.name}` |" in text
