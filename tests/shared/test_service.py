"""Adding a service is writing its package: a throwaway one, declared in a temp
directory, is found, documented, served by the stack and kept to the contract
with no other file touched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared import config_docs
from shared.service import Service, discover
from tests import contract
from tests.helpers import ROOT, free_port, wait_until

PACKAGE = "throwaway_svc"

INIT = '''
"""A throwaway service: one setting, one table, one route."""

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.app import Context
from shared.config import Settings, database_path_setting, parse_str, setting
from shared.responses import JSONResponse
from shared.service import Service


@dataclass(frozen=True, kw_only=True)
class NoteSettings(Settings):
    database_path: str = database_path_setting("notes.db")
    greeting: str = setting("NOTE_GREETING", parse_str, "hello", "What a new note says.")


async def add_note(request: Request) -> Response:
    ctx = Context.of(request)
    text = (await request.body()).decode() or ctx.settings.greeting
    note_id = await ctx.db.write(
        lambda conn: conn.execute("INSERT INTO notes (body) VALUES (?)", (text,)).lastrowid
    )
    return JSONResponse({"id": note_id, "body": text}, 201)


async def list_notes(request: Request) -> Response:
    rows = await Context.of(request).db.read(
        lambda conn: conn.execute("SELECT id, body FROM notes ORDER BY id").fetchall()
    )
    return JSONResponse({"notes": [{"id": i, "body": b} for i, b in rows]})


SERVICE = Service(
    name="throwaway_svc",
    title="Throwaway Notes",
    port_offset=7,
    settings=NoteSettings,
    migrations=["CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"],
    routes=[
        Route("/api/notes", add_note, methods=["POST"]),
        Route("/api/notes", list_notes, methods=["GET"]),
    ],
    context=Context,
)
'''

MAIN = """
import sys

from throwaway_svc import SERVICE

if __name__ == "__main__":
    sys.exit(SERVICE.main())
"""


@pytest.fixture(scope="module")
def package_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("services")
    (root / PACKAGE).mkdir()
    (root / PACKAGE / "__init__.py").write_text(textwrap.dedent(INIT))
    (root / PACKAGE / "__main__.py").write_text(textwrap.dedent(MAIN))
    return root


@pytest.fixture(scope="module")
def throwaway(package_root: Path) -> Service[Any, Any]:
    found = discover(package_root)
    assert [s.name for s in found] == [PACKAGE]
    return found[0]


def pythonpath(package_root: Path) -> str:
    return os.pathsep.join([str(package_root), str(ROOT)])


def test_declared_properties_come_from_the_declaration(throwaway: Service[Any, Any]) -> None:
    assert throwaway.db_file == "notes.db"
    assert throwaway.key_var == "API_KEY"
    assert throwaway.stack_key_env == "THROWAWAY_SVC_API_KEY"
    assert "NOTE_GREETING" in [v.name for v in throwaway.variables]


def test_contract_holds_for_a_new_service(throwaway: Service[Any, Any], tmp_path: Path) -> None:
    contract.check_http(throwaway, tmp_path / "http")
    contract.check_rate_limit(throwaway, tmp_path / "rate")
    contract.check_config_docs(throwaway)
    assert "## Throwaway Notes (`python -m throwaway_svc`)" in config_docs.render(
        [*discover(), throwaway]
    )


def test_python_m_healthcheck_and_startup_errors(
    throwaway: Service[Any, Any], package_root: Path, tmp_path: Path
) -> None:
    contract.check_startup_errors(throwaway, tmp_path, pythonpath(package_root))
    contract.check_process(throwaway, tmp_path, pythonpath(package_root))


def test_the_stack_serves_it(package_root: Path, tmp_path: Path) -> None:
    base = free_port() - 7  # the throwaway's port offset
    env = {
        **os.environ,
        "PYTHONPATH": pythonpath(package_root),
        "MONLIGHT_BASE_PORT": str(base),
        "MONLIGHT_DATA_DIR": str(tmp_path),
        "MONLIGHT_API_KEY": "stack-key",
    }
    code = (
        "import sys; from pathlib import Path; from shared import stack; "
        "from shared.service import discover; "
        f"sys.exit(stack.main(discover(Path({str(package_root)!r}))))"
    )
    log = open(tmp_path / "stack.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{base + 7}"
    try:

        def up() -> bool:
            assert proc.poll() is None, (tmp_path / "stack.log").read_text()
            try:
                return httpx.get(f"{url}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, what="the throwaway service in the stack")
        auth = {"X-API-Key": "stack-key"}
        assert httpx.post(f"{url}/api/notes", headers=auth).json() == {"id": 1, "body": "hello"}
        assert httpx.get(f"{url}/api/notes", headers=auth).json() == {
            "notes": [{"id": 1, "body": "hello"}]
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        log.close()
    out = (tmp_path / "stack.log").read_text()
    assert "Throwaway Notes" in out and "export MONLIGHT_API_KEY=stack-key" in out
    assert (tmp_path / "notes.db").exists()
