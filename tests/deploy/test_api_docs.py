"""docs/api.md cannot rot: its examples run against the real stack, and it covers every route.

The examples are the ```sh blocks of docs/api.md. They run in order, in one
bash session (`set -euo pipefail`), in a directory whose `data/` is the data
directory of a fresh `python -m shared.stack` (what `make run` starts) on free
ports: the URLs' documented ports (5010..) are rewritten to the stack's, and
nothing else is changed, so `set -a; . data/dev-keys.env; set +a` works as
written. `curl` is wrapped by a shell function that records each call's HTTP
status (curl's own `-w '%{stderr}…'`, so the examples keep their stdout) and
its body; a `# → 201` comment after a command is the status that command
must answer, in order, one per curl call. The ```json block after an example
is a sample of the last call's answer: each field it shows must be in the real
answer (the real one may have more), with the real `detail` and `status`.
Without a stack: every route of the four apps has a `### `METHOD /path``
heading in its service's section and a curl example of its own, and nothing
documented is gone.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.service import Service, discover
from shared.stack import DEFAULT_BASE_PORT
from tests.helpers import ROOT, StackProcess, wait_until

DOC = ROOT / "docs" / "api.md"
SERVICES = discover()

FENCE = re.compile(r"^```([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
EXPECTED = re.compile(r"#\s*→\s*(\d{3})\b")
ENDPOINT = re.compile(r"`(GET|POST|PUT|PATCH|DELETE|OPTIONS) (/[^`\s]*)`")
LOCAL_URL = re.compile(r"127\.0\.0\.1:(\d+)")
#: Maps whose keys are data (levels, container names) rather than fields.
DATA_KEYED = frozenset({"by_level", "by_container"})
#: Fields whose documented value must be the real one (error messages, outcomes).
VERBATIM = frozenset({"detail", "status"})
#: Documented endpoints that are no route: the relay's CORS layer answers preflights.
NOT_ROUTES = {("browser_relay", "OPTIONS", "/api/browser/{}")}

#: Runs before the first block: the status-recording curl.
PRELUDE = r"""set -euo pipefail
curl() {
  printf '\n@@body\n' >> "$DOC_BODIES"
  command curl "$@" -w '%{stderr}\n@@status %{http_code}\n' 2>>"$DOC_STATUS" |
    tee -a "$DOC_BODIES"
}
"""


@dataclass
class Example:
    index: int
    code: str
    line: int
    section: str
    expected: list[str]
    sample: Any = None
    sample_line: int = 0
    statuses: list[str] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)

    def where(self) -> str:
        return f"docs/api.md:{self.line} ({self.section})"


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def examples(text: str) -> list[Example]:
    """The sh blocks in order, each with its expected statuses and the JSON sample after it."""
    found: list[Example] = []
    section = ""
    last = 0
    for match in FENCE.finditer(text):
        for heading in re.finditer(r"^#{2,3} (.+)$", text[last : match.start()], re.M):
            section = heading.group(1)
        last = match.end()
        lang, body = match.group(1), match.group(2)
        if lang == "sh":
            found.append(
                Example(
                    len(found),
                    body,
                    line_of(text, match.start()),
                    section,
                    EXPECTED.findall(body),
                )
            )
        elif lang == "json" and found and found[-1].sample is None:
            found[-1].sample = json.loads(body)
            found[-1].sample_line = line_of(text, match.start())
    return found


def doc_port(service: Service[Any, Any]) -> int:
    return DEFAULT_BASE_PORT + service.port_offset


def rewrite_ports(code: str, base: int) -> str:
    """The documented ports (5010..) → the test stack's (base..)."""
    offsets = {doc_port(s): s.port_offset for s in SERVICES}

    def port(match: re.Match[str]) -> str:
        number = int(match.group(1))
        if number not in offsets:
            return match.group(0)
        return f"127.0.0.1:{base + offsets[number]}"

    return LOCAL_URL.sub(port, code)


def script(blocks: list[Example], base: int) -> str:
    parts = [PRELUDE]
    for ex in blocks:
        parts.append(f"printf '@@block {ex.index}\\n' >> \"$DOC_STATUS\"\n")
        parts.append(rewrite_ports(ex.code, base).rstrip("\n") + "\n")
        parts.append(f"printf '@@end {ex.index}\\n' >> \"$DOC_STATUS\"\n")
    return "".join(parts)


def record(blocks: list[Example], status_log: str, bodies_log: str) -> set[int]:
    """Each example's statuses and bodies from the runner's logs; the examples that
    finished."""
    bodies = bodies_log.split("\n@@body\n")[1:]
    finished: set[int] = set()
    current: Example | None = None
    n = 0
    for line in status_log.splitlines():
        if line.startswith("@@block "):
            current = blocks[int(line.split()[1])]
        elif line.startswith("@@end "):
            finished.add(int(line.split()[1]))
        elif line.startswith("@@status ") and current is not None:
            current.statuses.append(line.split()[1])
            current.bodies.append(bodies[n] if n < len(bodies) else "")
            n += 1
    return finished


def json_body(body: str) -> Any:
    """The JSON of an answer as curl printed it (after its head when `-i`/`-D -` showed one)."""
    if body.startswith("HTTP/"):
        body = re.split(r"\r?\n\r?\n", body, maxsplit=1)[-1]
    try:
        return json.loads(body)
    except ValueError:
        return None


def missing_fields(sample: Any, actual: Any, where: str = "") -> list[str]:
    """Fields the sample shows that the real answer lacks (the answer may have more), and
    VERBATIM values that differ."""
    if isinstance(sample, dict):
        if actual is None:
            return []
        if not isinstance(actual, dict):
            return [f"{where or '.'} is {type(actual).__name__}, not an object"]
        problems: list[str] = []
        for key, value in sample.items():
            if key not in actual:
                problems.append(f"{where}.{key}")
            elif key in VERBATIM and isinstance(value, str) and actual[key] != value:
                problems.append(f"{where}.{key} is {actual[key]!r}, not {value!r}")
            elif key not in DATA_KEYED:
                problems += missing_fields(value, actual[key], f"{where}.{key}")
        return problems
    if isinstance(sample, list):
        if actual is None:
            return []
        if not isinstance(actual, list):
            return [f"{where or '.'} is {type(actual).__name__}, not an array"]
        if sample and actual:
            return missing_fields(sample[0], actual[0], f"{where}[0]")
    return []


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[StackProcess]:
    key = secrets.token_hex(16)
    with StackProcess(tmp_path, key) as running:

        def healthy() -> bool:
            running.running()
            for service in SERVICES:
                try:
                    if httpx.get(f"{running.url(service)}/health", timeout=1).status_code != 200:
                        return False
                except httpx.HTTPError:
                    return False
            return True

        wait_until(healthy, timeout=30, interval=0.05, what="the stack to be healthy")
        viewer = next(s for s in SERVICES if s.name == "log_viewer")

        def sample_logs_read() -> bool:
            answer = httpx.get(
                f"{running.url(viewer)}/api/logs/containers",
                headers={"X-API-Key": key},
                timeout=2,
            ).json()
            return len(answer["containers"]) >= 2

        # The log examples read the sample containers make run writes: wait for their
        # first lines to be ingested (the first poll), as a person starting it would.
        wait_until(sample_logs_read, timeout=30, interval=0.1, what="the sample logs")
        yield running


def test_every_example_runs_and_answers_as_documented(stack: StackProcess, tmp_path: Path) -> None:
    text = doc_text()
    blocks = examples(text)
    assert blocks, "docs/api.md has no ```sh examples"
    status_path, bodies_path = tmp_path / "statuses.log", tmp_path / "bodies.log"
    status_path.touch()
    bodies_path.touch()
    env = {
        **os.environ,
        "DOC_STATUS": str(status_path),
        "DOC_BODIES": str(bodies_path),
        # python3 for the examples' JSON handling: at least the interpreter running us.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    for name in [n for n in env if n.endswith("API_KEY")]:
        del env[name]  # only what data/dev-keys.env says
    done = subprocess.run(
        ["bash", "-c", script(blocks, stack.base)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    status_log = status_path.read_text(errors="replace")
    finished = record(blocks, status_log, bodies_path.read_text(errors="replace"))

    if done.returncode != 0:
        failed = next((b for b in blocks if b.index not in finished), blocks[-1])
        raise AssertionError(
            f"the example at {failed.where()} failed (bash exit {done.returncode}):\n"
            f"{failed.code}\n--- statuses so far: {failed.statuses}\n"
            f"--- curl stderr:\n{status_log[-3000:]}\n--- stderr:\n{done.stderr[-3000:]}"
            f"\n--- stack log:\n{stack.log()[-3000:]}"
        )
    problems: list[str] = []
    for ex in blocks:
        assert ex.index in finished, f"{ex.where()} never ran"
        if ex.statuses != ex.expected:
            problems.append(
                f"{ex.where()}: curl answered {ex.statuses}, the doc says {ex.expected}"
                f" (one `# → NNN` after each curl call)\n{ex.code}"
            )
            continue
        if ex.sample is not None and ex.bodies:
            actual = json_body(ex.bodies[-1])
            if actual is None:
                problems.append(
                    f"{ex.where()}: the sample at line {ex.sample_line} is JSON, the answer"
                    f" is not: {ex.bodies[-1][:300]!r}"
                )
                continue
            missing = missing_fields(ex.sample, actual)
            if missing:
                problems.append(
                    f"{ex.where()}: the sample at line {ex.sample_line} does not match the"
                    f" answer: {missing}\n  answer: {json.dumps(actual)[:600]}"
                )
    assert not problems, "\n\n".join(problems)


# -- the document against the code (no stack needed) ----------------------------------


def normalized(path: str) -> str:
    """`/api/errors/{id}`, `/static/{path:path}` → `/api/errors/{}`, `/static/{}`."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def routes_of(service: Service[Any, Any], tmp_path: Path) -> set[tuple[str, str]]:
    """(method, path) of every route the service's real app serves (HEAD comes with GET)."""
    env = {
        service.key_var: "docs-key",
        "DATABASE_PATH": str(tmp_path / service.db_file),
        **service.test_env,
    }
    app = service.app(service.load(env))  # built, not started: no database is opened
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        path = getattr(route, "path", None)
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD" and path is not None:
                found.add((method, normalized(path)))
    return found


def section(text: str, service: Service[Any, Any]) -> str:
    """The `## <title> (`:<port>`)` section of a service."""
    match = re.search(rf"^## {re.escape(service.title)}\b.*$", text, re.M)
    assert match, f"docs/api.md has no '## {service.title}' section"
    heading = match.group(0)
    assert f":{doc_port(service)}" in heading, f"{heading!r} should name :{doc_port(service)}"
    end = re.search(r"^## ", text[match.end() :], re.M)
    return text[match.start() : match.end() + end.start()] if end else text[match.start() :]


def subsections(part: str) -> list[tuple[list[tuple[str, str]], str]]:
    """Each `### ` subsection: the endpoints its heading names (method, path as
    written), and its text."""
    found = []
    for piece in re.split(r"^(?=### )", part, flags=re.M):
        if piece.startswith("### "):
            found.append((ENDPOINT.findall(piece.splitlines()[0]), piece))
    return found


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_every_route_is_documented_and_every_documented_endpoint_exists(
    service: Service[Any, Any], tmp_path: Path
) -> None:
    documented: set[tuple[str, str]] = set()
    for endpoints, _ in subsections(section(doc_text(), service)):
        documented |= {(method, normalized(path)) for method, path in endpoints}
    routes = routes_of(service, tmp_path)
    extras = {(m, p) for name, m, p in NOT_ROUTES if name == service.name}
    undocumented = sorted(routes - documented)
    assert not undocumented, (
        f"{service.title}: routes without a `### `METHOD /path`` heading in docs/api.md:"
        f" {undocumented}"
    )
    stale = sorted(documented - routes - extras)
    assert not stale, f"{service.title}: docs/api.md documents routes that do not exist: {stale}"


def url_pattern(port: int, path: str) -> re.Pattern[str]:
    """A URL of the endpoint in an example: path parameters are anything but `/`
    (`{path}` and `{x:path}` may hold slashes), followed by the end of the URL."""
    parts = re.split(r"(\{[^}]*\})", path)
    regex = "".join(
        (r"\S+" if part == "{path}" or part.endswith(":path}") else r"[^/?\s\"']+")
        if part.startswith("{")
        else re.escape(part)
        for part in parts
    )
    return re.compile(rf"127\.0\.0\.1:{port}{regex}(?=[?\s\"'\\]|$)", re.M)


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_every_documented_endpoint_has_a_curl_example(service: Service[Any, Any]) -> None:
    lacking = []
    for endpoints, piece in subsections(section(doc_text(), service)):
        code = "\n".join(
            body for lang, body in FENCE.findall(piece) if lang == "sh" and "curl" in body
        )
        for method, path in endpoints:
            if not url_pattern(doc_port(service), path).search(code):
                lacking.append(f"{method} {path}")
    assert not lacking, f"{service.title}: endpoints without a curl example of their own: {lacking}"


def test_examples_are_checkable() -> None:
    """What the runner relies on: a status after every curl call, no `-w` of the
    example's own (the runner's would replace it), samples that parse, local URLs
    on the documented ports."""
    text = doc_text()
    blocks = examples(text)  # json.loads of every sample: a broken one fails here
    ports = {doc_port(s) for s in SERVICES}
    for ex in blocks:
        commands = "\n".join(ln for ln in ex.code.splitlines() if not ln.lstrip().startswith("#"))
        calls = len(re.findall(r"(?<![\w-])curl\s", commands))
        assert len(ex.expected) == calls, (
            f"{ex.where()}: {calls} curl call(s) but {len(ex.expected)} `# → NNN` marker(s)"
        )
        assert not re.search(r"\s(-w|--write-out)\b", ex.code), f"{ex.where()}: no -w, please"
        for port in LOCAL_URL.findall(ex.code):
            assert int(port) in ports, f"{ex.where()}: 127.0.0.1:{port} is no service of the stack"
        assert "localhost:50" not in ex.code, f"{ex.where()}: use 127.0.0.1 for the stack's URLs"
    for lang, body in FENCE.findall(text):
        if lang == "json":
            json.loads(body)
