"""The client ships on its own: `python -m build` makes a wheel that installs in a clean
virtualenv with httpx as its only dependency, and imports there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT


def run(*argv: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{argv}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_wheel_installs_with_only_httpx_and_imports(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--wheel", "--outdir", dist, ROOT / "clients" / "python")
    (wheel,) = dist.glob("monlight-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel)
    listed = json.loads(run(python, "-m", "pip", "list", "--format=json"))
    installed = {entry["name"].lower() for entry in listed}
    # httpx and what httpx itself needs; pip and setuptools come with the venv.
    httpx_and_its_own = {
        "httpx", "httpcore", "h11", "anyio", "sniffio", "idna", "certifi",
        "typing-extensions", "typing_extensions", "exceptiongroup",
    }  # fmt: skip
    deps = installed - {"pip", "setuptools", "wheel", "monlight"}
    assert "monlight" in installed and "httpx" in deps and deps <= httpx_and_its_own, deps
    out = run(
        python,
        "-c",
        "import monlight, monlight.testing; from monlight import ErrorClient, MetricsClient;"
        " print(monlight.__version__ if hasattr(monlight, '__version__') else 'ok')",
        cwd=tmp_path,
    )
    assert out.strip()
