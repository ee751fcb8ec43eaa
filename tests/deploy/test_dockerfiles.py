"""The service images, checked without Docker (there is none on the development machines).

Each `<service>/Dockerfile` is parsed; its final stage must be the slim Python
base with a non-root user, port 8000, data under /app/data, an exec-form CMD
(python is PID 1 and handles SIGTERM) and a HEALTHCHECK. The image's file tree
is rebuilt from its COPY lines, filtered by `.dockerignore` as the build
context is, and the CMD is run in it for real: the service must start from
that tree alone (its code, static assets and, for the relay, the browser SDK),
the HEALTHCHECK command must say 0 while it runs and 1 once it has stopped.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.service import Service, discover
from tests import helpers
from tests.contract import service_env
from tests.helpers import ROOT, ServiceProcess

SERVICES = discover()
IDS = [s.name for s in SERVICES]
FINAL_BASE = "python:3.11-slim"
DATA_DIR = "/app/data"
#: Top-level packages of the checkout: a module of one of these must come from the image.
OWN_PACKAGES = sorted({p.parent.name for p in ROOT.glob("*/__init__.py")})


@dataclass
class Instruction:
    keyword: str
    args: str


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [i.args for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"no {keyword} in the stage FROM {self.base}"
        return found[-1]

    def env(self) -> dict[str, str]:
        """ENV in its `KEY=value ...` form (the only one the Dockerfiles use)."""
        values: dict[str, str] = {}
        for args in self.all("ENV"):
            for word in shlex.split(args):
                name, sep, value = word.partition("=")
                assert sep, f"ENV without `=`: {args}"
                values[name] = value
        return values


def parse_dockerfile(path: Path) -> list[Stage]:
    """Stages with their instructions: continuation lines joined, comments dropped,
    `${ARG}` of the global ARGs substituted in FROM (as Docker does)."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, f"{path}: a continued instruction never ends"
    args_before_from: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            base, _, name = args.partition(" AS ")
            base = re.sub(r"\$\{(\w+)\}", lambda m: args_before_from[m.group(1)], base.strip())
            stages.append(Stage(base, name.strip() or None))
        elif not stages:
            assert keyword == "ARG", f"{path}: {keyword} before the first FROM"
            name, _, default = args.partition("=")
            args_before_from[name] = default
        else:
            stages[-1].instructions.append(Instruction(keyword, args))
    return stages


def exec_form(args: str) -> list[str]:
    """A JSON-array command (exec form: no shell between Docker and python)."""
    command = json.loads(args)
    assert isinstance(command, list) and all(isinstance(a, str) for a in command), args
    return command


def healthcheck_command(stage: Stage) -> list[str]:
    args = stage.last("HEALTHCHECK")
    options, sep, command = args.partition("CMD ")
    assert sep, f"HEALTHCHECK without CMD: {args}"
    assert all(o.startswith("--") for o in options.split()), options
    return exec_form(command)


@dataclass
class Copy:
    sources: list[str]
    dest: str
    flags: dict[str, str]


def copies(stage: Stage) -> list[Copy]:
    found = []
    for args in stage.all("COPY"):
        words = shlex.split(args)
        flags = dict(w[2:].split("=", 1) for w in words if w.startswith("--"))
        paths = [w for w in words if not w.startswith("--")]
        found.append(Copy(paths[:-1], paths[-1], flags))
    return found


def dockerfile(service: Service[Any, Any]) -> Path:
    return ROOT / service.name / "Dockerfile"


def final_stage(service: Service[Any, Any]) -> Stage:
    return parse_dockerfile(dockerfile(service))[-1]


# --- .dockerignore, as Docker reads it -------------------------------------------------


def _pattern(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """(is an exception `!`, pattern) in file order: the last one matching decides."""
    rules = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        rules.append((negate, _pattern(pattern)))
    return rules


def in_context(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether a file is in the build context: a pattern matching the path or any of
    its parent directories excludes it, unless a later `!` pattern lets it back in."""
    parts = relative.strip("/").split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for negate, pattern in rules:
        if any(pattern.match(p) for p in prefixes):
            excluded = not negate
    return not excluded


def context_files(source: str, rules: list[tuple[bool, re.Pattern[str]]]) -> list[str]:
    """The files of a COPY source that the build context holds (paths from the root)."""
    path = ROOT / source
    candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    relative = [p.relative_to(ROOT).as_posix() for p in candidates]
    return [r for r in relative if in_context(r, rules)]


def build_image_tree(service: Service[Any, Any], root: Path) -> Path:
    """The final stage's files (COPY from the context only) under `root`; its WORKDIR."""
    stage = final_stage(service)
    workdir = stage.last("WORKDIR")
    rules = dockerignore_rules()
    for copy in copies(stage):
        if "from" in copy.flags:
            continue
        dest = copy.dest if copy.dest.startswith("/") else f"{workdir}/{copy.dest}"
        for source in copy.sources:
            files = context_files(source, rules)
            assert files, f"COPY {source}: nothing of it is in the build context"
            for rel in files:
                if (ROOT / source).is_file():
                    target = dest + Path(rel).name if dest.endswith("/") else dest
                else:
                    target = f"{dest.rstrip('/')}/{Path(rel).relative_to(source.rstrip('/'))}"
                out = root / target.lstrip("/")
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, out)
    return root / workdir.lstrip("/")


# --- The Dockerfiles' text ---------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES, ids=IDS)
def test_stages_slim_base_venv_only(service: Service[Any, Any]) -> None:
    stages = parse_dockerfile(dockerfile(service))
    assert len(stages) >= 2, "a builder stage and a final stage"
    final = stages[-1]
    assert final.base == FINAL_BASE
    builders = {s.name for s in stages[:-1] if s.name}
    # The final stage takes the built venv from a builder, and builds nothing itself.
    venv = [c for c in copies(final) if c.flags.get("from") in builders]
    assert [c.sources for c in venv] == [["/opt/venv"]]
    assert final.env()["PATH"].startswith("/opt/venv/bin:")
    for run in final.all("RUN"):
        assert not re.search(r"\b(apt-get|apk|pip|gcc|make|build-essential)\b", run), run


@pytest.mark.parametrize("service", SERVICES, ids=IDS)
def test_runtime_dependencies_installed_without_caches(service: Service[Any, Any]) -> None:
    stages = parse_dockerfile(dockerfile(service))
    runs = [run for stage in stages for run in stage.all("RUN")]
    installs = [
        part for run in runs for part in run.split("&&") if re.search(r"\bpip\b.*\binstall\b", part)
    ]
    assert installs, "the dependencies are installed with pip"
    for part in installs:
        assert "--no-cache-dir" in part, f"pip install without --no-cache-dir: {part}"
        assert "[dev]" not in part and ".[" not in part, f"dev extras in the image: {part}"
    # From pyproject.toml's [project].dependencies, the runtime ones.
    builder = next(s for s in stages if "pyproject.toml" in str(copies(s)))
    assert any("['project']['dependencies']" in run for run in builder.all("RUN"))
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert declared and not any(d.startswith(("pytest", "ruff", "mypy")) for d in declared)


@pytest.mark.parametrize("service", SERVICES, ids=IDS)
def test_final_stage_runs_the_service_as_pid_1(service: Service[Any, Any]) -> None:
    stage = final_stage(service)
    assert stage.last("USER") not in {"root", "0", "0:0"}
    assert stage.last("EXPOSE").split() == ["8000"]
    assert stage.last("STOPSIGNAL") == "SIGTERM"
    assert stage.last("WORKDIR") == "/app"
    env = stage.env()
    assert env["PORT"] == "8000"
    assert env["DATABASE_PATH"] == f"{DATA_DIR}/{service.db_file}"
    assert f'"{DATA_DIR}"' in stage.last("VOLUME")
    # Exec form: python itself is PID 1 and gets SIGTERM (shared/server.py handles it).
    assert exec_form(stage.last("CMD")) == ["python", "-m", service.name]
    assert healthcheck_command(stage) == ["python", "-m", service.name, "--healthcheck"]


@pytest.mark.parametrize("service", SERVICES, ids=IDS)
def test_copy_sources_exist_in_the_build_context(service: Service[Any, Any]) -> None:
    rules = dockerignore_rules()
    stages = parse_dockerfile(dockerfile(service))
    names = {s.name for s in stages if s.name}
    for stage in stages:
        for copy in copies(stage):
            if "from" in copy.flags:
                assert copy.flags["from"] in names, f"COPY --from={copy.flags['from']}"
                continue
            for source in copy.sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
                assert context_files(source, rules), f"COPY {source}: left out by .dockerignore"
    # What the service package needs at run time: itself and shared/.
    copied = {s.rstrip("/") for c in copies(stages[-1]) for s in c.sources}
    assert {"shared", service.name} <= copied


def test_dockerignore_leaves_out_what_no_image_needs() -> None:
    rules = dockerignore_rules()
    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        "data/errors.db",
        "deploy/secrets.env",
        "deploy/data/errors/errors.db",
        "tests/conftest.py",
        "bench/core.py",
        "docs/benchmarks.md",
        "clients/browser/node_modules/x/index.js",
        "clients/python/monlight/__init__.py",
        "shared/__pycache__/app.cpython-311.pyc",
        "error_tracker/Dockerfile",
    ):
        assert not in_context(path, rules), path
    for path in ("pyproject.toml", "shared/app.py", "clients/browser/monlight.js"):
        assert in_context(path, rules), path


def test_the_four_dockerfiles_differ_only_by_service() -> None:
    """One file four times: once the service's names are blanked, only the relay's SDK
    lines and the log viewer's note about Docker's logs remain different."""
    blanked = {}
    for service in SERVICES:
        text = dockerfile(service).read_text()
        for word in (service.name, service.title, service.db_file):
            text = text.replace(word, "<service>")
        blanked[service.name] = [line for line in text.splitlines() if not line.startswith("#")]
    reference = blanked["error_tracker"]
    for name, lines in blanked.items():
        extra = [line for line in lines if line not in reference]
        assert extra == (
            ["COPY clients/browser/monlight.js clients/browser/monlight.js"]
            if name == "browser_relay"
            else []
        ), name
        assert [line for line in reference if line not in lines] == [], name


# --- The image's tree, run for real ------------------------------------------------------


@pytest.fixture(params=SERVICES, ids=IDS)
def image(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Service[Any, Any], Path]]:
    """A service and its image's WORKDIR, rebuilt from the Dockerfile's COPY lines."""
    service: Service[Any, Any] = request.param
    yield service, build_image_tree(service, tmp_path / "image")


def test_image_tree_holds_every_module_it_imports(image: tuple[Service[Any, Any], Path]) -> None:
    """The CMD's module imports from the image's tree alone: nothing is found through
    the checkout (this venv's editable install would hide a missing COPY)."""
    service, workdir = image
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({service.name + '.__main__'!r})\n"
        f"own = {OWN_PACKAGES!r}\n"
        "print(json.dumps({n: getattr(m, '__file__', None) for n, m in sys.modules.items()"
        " if n.split('.')[0] in own}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    modules: dict[str, str | None] = json.loads(done.stdout)
    assert f"{service.name}.__main__" in modules
    outside = {n: f for n, f in modules.items() if f and not Path(f).is_relative_to(workdir)}
    assert not outside, f"imported from outside the image: {outside}"


def test_healthcheck_against_the_running_image(
    image: tuple[Service[Any, Any], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The image's CMD, started in the image's tree, serves; its HEALTHCHECK says 0;
    SIGTERM stops it with 0 (so, as PID 1, which has no default action for SIGTERM,
    it stops by its own handler); the HEALTHCHECK then says 1."""
    service, workdir = image
    stage = final_stage(service)
    assert exec_form(stage.last("CMD")) == ["python", "-m", service.name]
    data = tmp_path / "data"
    data.mkdir()
    # The image's ENV, then what differs on this machine: a free port, a temp database.
    env = {k: v for k, v in stage.env().items() if k not in {"PATH", "HOST", "PORT"}}
    env.update(service_env(service, data))
    if service.name == "log_viewer":
        env["LOG_SOURCES"] = str(tmp_path / "containers")  # not this machine's Docker
    monkeypatch.setattr(helpers, "ROOT", workdir)  # ServiceProcess runs in the image's WORKDIR
    proc = ServiceProcess(service.name, env).start()
    try:
        check = healthcheck_command(stage)
        argv = [sys.executable if check[0] == "python" else check[0], *check[1:]]
        check_env = {**os.environ, **stage.env(), "PATH": os.environ["PATH"]}
        check_env["PORT"] = str(proc.port)
        done = subprocess.run(argv, cwd=workdir, env=check_env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("healthy"), done.stdout
        served_from_image(service, proc.url)
    finally:
        assert proc.stop() == 0, proc.log()
    assert "Traceback" not in proc.log(), proc.log()
    done = subprocess.run(argv, cwd=workdir, env=check_env, capture_output=True, text=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("unhealthy"), done.stdout


def served_from_image(service: Service[Any, Any], url: str) -> None:
    """The UI page and every asset it links, and the relay's SDK: files the image must ship."""
    with httpx.Client(base_url=url, timeout=10) as client:
        if service.ui is not None:
            page = client.get("/")
            assert page.status_code == 200, page.text
            assets = set(re.findall(r"""(static/[^"'?\s]+)""", page.text))
            assert assets, "the page links its static assets"
            for asset in sorted(assets):
                assert client.get(f"/{asset}").status_code == 200, asset
        if service.name == "browser_relay":
            sdk = client.get("/sdk/monlight.js")
            assert sdk.status_code == 200, sdk.text
            assert sdk.content == (ROOT / "clients" / "browser" / "monlight.js").read_bytes()
