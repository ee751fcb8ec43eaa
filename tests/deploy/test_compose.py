"""The compose files, held to the services' own declarations (no compose engine here).

Both files are parsed with PyYAML (merge keys resolved, as compose does) and
checked against what the code declares: every variable a service is given
exists in its settings (its config module's table), every required one is
given, each key comes from its prefixed secret, the relay reaches the other
services by their compose names on port 8000, the healthcheck is the image's,
volumes put the database under /app/data, memory limits leave headroom over
the measured idle RSS (S1 in docs/benchmarks.md), and the test file is the
production file on other ports, network, project name and data directory.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.service import Service, discover
from tests.deploy.test_dockerfiles import final_stage, healthcheck_command
from tests.helpers import ROOT

DEPLOY = ROOT / "deploy"
MONITORING = DEPLOY / "docker-compose.monitoring.yml"
TEST = DEPLOY / "docker-compose.test.yml"
SECRETS_EXAMPLE = DEPLOY / "secrets.env.example"
BENCHMARKS = ROOT / "docs" / "benchmarks.md"
SERVICES = discover()
IDS = [s.name for s in SERVICES]
BY_NAME = {s.name: s for s in SERVICES}
#: Host port of the service at port offset 0, per file.
BASE_PORTS = {MONITORING: 5010, TEST: 15010}
#: The data directory of each service on the host, under ./data/ (spec: deploy.md).
DATA_DIRS = {
    "error_tracker": "errors",
    "log_viewer": "logs",
    "metrics_collector": "metrics",
    "browser_relay": "relay",
}
DOCKER_LOGS = "/var/lib/docker/containers"
#: Times the measured RSS a limit must at least be (healthcheck process, load, growth).
HEADROOM = 2.0
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}")


def compose_name(service: Service[Any, Any]) -> str:
    return service.name.replace("_", "-")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    return data


def services_of(path: Path) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = load(path)["services"]
    assert set(services) == {compose_name(s) for s in SERVICES}, path
    return services


def variable_names(service: Service[Any, Any]) -> set[str]:
    return {var.name for var in service.variables}


def interpolated(value: str) -> str:
    """`${NAME}`, `${NAME:-default}` or `${NAME:?message}` → NAME (the whole value)."""
    match = INTERPOLATION.fullmatch(value)
    assert match, f"expected ${{NAME}}, got {value!r}"
    return match.group(1)


def memory_bytes(value: str) -> int:
    match = re.fullmatch(r"(\d+)([kmg]?)b?", value.strip().lower())
    assert match, value
    return int(match.group(1)) * int(1024 ** " kmg".index(match.group(2) or " "))


def s1_figures() -> dict[str, tuple[float, float | None]]:
    """(idle RSS after a few requests, peak RSS under load or None) per service, in MB."""
    text = BENCHMARKS.read_text()
    idle = re.findall(r"\| S1 \| RSS idle, (\w+), after a few requests \|.*?([\d.]+) MB", text)
    peak = dict(re.findall(r"\| S1 \| RSS peak \(VmHWM\), (\w+), during .*?([\d.]+) MB", text))
    return {name: (float(mb), float(peak[name]) if name in peak else None) for name, mb in idle}


def secrets_example_names() -> tuple[set[str], set[str]]:
    """(names set in secrets.env.example, names only shown commented out)."""
    active, commented = set(), set()
    for line in SECRETS_EXAMPLE.read_text().splitlines():
        if match := re.fullmatch(r"([A-Z][A-Z0-9_]*)=.*", line):
            active.add(match.group(1))
        elif match := re.fullmatch(r"#\s?([A-Z][A-Z0-9_]*)=.*", line):
            commented.add(match.group(1))
    return active, commented


@pytest.fixture(params=[MONITORING, TEST], ids=["monitoring", "test"])
def compose(request: pytest.FixtureRequest) -> Path:
    path: Path = request.param
    return path


@pytest.mark.parametrize("service", SERVICES, ids=IDS)
def test_built_from_its_dockerfile_with_the_repository_as_context(
    compose: Path, service: Service[Any, Any]
) -> None:
    entry = services_of(compose)[compose_name(service)]
    assert entry["build"] == {"context": "..", "dockerfile": f"{service.name}/Dockerfile"}
    assert (compose.parent / entry["build"]["context"]).resolve() == ROOT
    assert (ROOT / entry["build"]["dockerfile"]).is_file()
    assert entry["restart"] == "unless-stopped"
    assert entry["env_file"] == "secrets.env"


@pytest.mark.parametrize("service", SERVICES, ids=IDS)
def test_ports(compose: Path, service: Service[Any, Any]) -> None:
    entry = services_of(compose)[compose_name(service)]
    host_port = BASE_PORTS[compose] + service.port_offset
    assert len(entry["ports"]) == 1
    *address, host, container = entry["ports"][0].rsplit(":", 2)
    assert (int(host), int(container)) == (host_port, 8000)
    assert address == ["${MONLIGHT_BIND:-127.0.0.1}"]  # loopback unless said otherwise


@pytest.mark.parametrize("service", SERVICES, ids=IDS)
def test_environment_is_what_the_service_reads(compose: Path, service: Service[Any, Any]) -> None:
    env: dict[str, str] = services_of(compose)[compose_name(service)]["environment"]
    unknown = set(env) - variable_names(service)
    assert not unknown, f"{service.name} reads no {sorted(unknown)} (see its config.py)"
    required = {var.name for var in service.variables if var.required}
    assert required <= set(env), f"{service.name} needs {sorted(required - set(env))}"
    # Its key from the prefixed secret: API_KEY=${ERROR_TRACKER_API_KEY}, the relay's
    # ADMIN_API_KEY=${BROWSER_RELAY_ADMIN_API_KEY}.
    assert interpolated(env[service.key_var]) == service.stack_key_env
    assert env["LOG_LEVEL"] == "${LOG_LEVEL:-info}"
    assert env["DATABASE_PATH"] == f"/app/data/{service.db_file}"
    assert env["DATABASE_PATH"] == final_stage(service).env()["DATABASE_PATH"]


def test_relay_forwards_to_the_other_services_by_compose_name(compose: Path) -> None:
    env = services_of(compose)["browser-relay"]["environment"]
    for upstream in ("error_tracker", "metrics_collector"):
        prefix = upstream.upper()
        target = BY_NAME[upstream]
        assert env[f"{prefix}_URL"] == f"http://{compose_name(target)}:8000"
        # The key it forwards with is the one that service is given.
        assert interpolated(env[f"{prefix}_API_KEY"]) == target.stack_key_env
    assert set(services_of(compose)["browser-relay"]["depends_on"]) == {
        "error-tracker",
        "metrics-collector",
    }


@pytest.mark.parametrize("service", SERVICES, ids=IDS)
def test_healthcheck_is_the_images(compose: Path, service: Service[Any, Any]) -> None:
    check = services_of(compose)[compose_name(service)]["healthcheck"]
    command = ["python", "-m", service.name, "--healthcheck"]
    assert check["test"] == ["CMD", *command]
    assert healthcheck_command(final_stage(service)) == command
    assert {"interval", "timeout", "retries", "start_period"} <= set(check)


@pytest.mark.parametrize("service", SERVICES, ids=IDS)
def test_volumes(compose: Path, service: Service[Any, Any]) -> None:
    entry = services_of(compose)[compose_name(service)]
    data_root = "./data" if compose == MONITORING else "./test-data"
    expected = [f"{data_root}/{DATA_DIRS[service.name]}:/app/data"]
    if service.name == "log_viewer":
        expected.append(f"{DOCKER_LOGS}:{DOCKER_LOGS}:ro")
        assert entry["environment"]["LOG_SOURCES"] == DOCKER_LOGS
    assert entry["volumes"] == expected


@pytest.mark.parametrize("service", SERVICES, ids=IDS)
def test_memory_limit_over_measured_rss(compose: Path, service: Service[Any, Any]) -> None:
    idle, peak = s1_figures()[service.name]
    limit = services_of(compose)[compose_name(service)]["deploy"]["resources"]["limits"]["memory"]
    limit_mb = memory_bytes(limit) / 1024**2
    assert limit_mb >= HEADROOM * max(idle, peak or 0), (limit, idle, peak)
    # The figure it rests on is written next to it, and still what was measured.
    block = compose.read_text().split(f"\n  {compose_name(service)}:\n", 1)[1]
    line = next(line for line in block.splitlines() if line.strip().startswith("memory:"))
    written = re.search(r"#\s*S1: ([\d.]+) MB idle", line)
    assert written, f"no `# S1: <MB> MB idle` beside the limit: {line}"
    assert abs(float(written.group(1)) - idle) <= 0.1 * idle, (line, idle)


def test_test_file_differs_only_in_ports_network_project_and_data() -> None:
    production, test = load(MONITORING), load(TEST)
    assert (production["name"], test["name"]) == ("monlight", "monlight-test")
    assert list(production["networks"]) == ["monlight"]
    assert list(test["networks"]) == ["monlight-test"]
    assert test["networks"]["monlight-test"] == {"name": "monlight-test"}
    normalised = copy.deepcopy(test)
    normalised["name"] = production["name"]
    normalised["networks"] = {"monlight": {"name": "monlight"}}
    # The services and the extension block they merge (`x-monlight: &monlight`).
    extensions = [v for k, v in normalised.items() if k.startswith("x-")]
    for entry in [*normalised["services"].values(), *extensions]:
        entry["networks"] = ["monlight" if n == "monlight-test" else n for n in entry["networks"]]
    for entry in normalised["services"].values():
        entry["ports"] = [re.sub(r":15(\d{3}):", r":5\1:", p) for p in entry["ports"]]
        entry["volumes"] = [v.replace("./test-data/", "./data/") for v in entry["volumes"]]
    for entry in production["services"].values():
        assert entry["networks"] == ["monlight"]
    assert normalised == production


def test_secrets_example_names_every_variable_compose_uses() -> None:
    active, commented = secrets_example_names()
    used = set()
    for path in (MONITORING, TEST):
        used |= {m.group(1) for m in INTERPOLATION.finditer(path.read_text())}
    # The keys are required: set (empty) in the example, so nobody misses one.
    keys = {s.stack_key_env for s in SERVICES}
    assert keys <= active
    assert used <= active | commented, f"not in secrets.env.example: {used - active - commented}"
    # Everything else in it is a variable some service reads (env_file reaches them all).
    known = set().union(*(variable_names(s) for s in SERVICES)) | keys | used
    assert (active | commented) <= known, f"read by no service: {(active | commented) - known}"
    for key in keys:
        assert not re.search(rf"^{key}=\S", SECRETS_EXAMPLE.read_text(), re.M), "no real key"
    assert "openssl rand -hex 16" in SECRETS_EXAMPLE.read_text()
