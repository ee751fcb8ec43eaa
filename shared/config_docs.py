"""`python -m shared.config_docs`: (re)write the configuration docs from the Var tables.

Writes docs/configuration.md and the README's section between the
`<!-- config:start -->` and `<!-- config:end -->` markers. Run with `--check`
(the test suite does) to fail when either is stale.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shared.config import markdown_table
from shared.service import Service, discover

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "configuration.md"
README = ROOT / "README.md"
START, END = "<!-- config:start -->", "<!-- config:end -->"

HEADER = """# Configuration

Every service is configured only through environment variables. A missing
required variable or a malformed value stops start-up with exit code 1 and
one line on stderr naming the variable. This file is generated from each
service's `config.py` by `python -m shared.config_docs`; do not edit it by hand.

`make run` (all services in one process) sets `HOST=127.0.0.1`, the ports
5010–5013 and `DATABASE_PATH` under `./data/` itself. Every service takes one
development key, `MONLIGHT_API_KEY` (from the environment, else generated once
and kept in `data/dev-keys.env`); a service's own variable
(`ERROR_TRACKER_API_KEY`, `LOG_VIEWER_API_KEY`, `METRICS_COLLECTOR_API_KEY`,
`BROWSER_RELAY_ADMIN_API_KEY`) overrides it for that service.
`MONLIGHT_DATA_DIR`, `MONLIGHT_HOST` and `MONLIGHT_BASE_PORT` move the rest.
"""


def sections(services: Sequence[Service[Any, Any]] | None = None) -> str:
    parts = []
    for service in discover() if services is None else services:
        parts.append(f"\n### {service.title} (`python -m {service.name}`)\n\n")
        parts.append(markdown_table(service.variables) + "\n")
    return "".join(parts)


def render(services: Sequence[Service[Any, Any]] | None = None) -> str:
    return HEADER + sections(services).replace("\n### ", "\n## ")


def splice(text: str, start: str, end: str, body: str) -> str:
    """Replace what stands between two markers (kept) with body."""
    head, sep, rest = text.partition(start)
    _, sep2, tail = rest.partition(end)
    if not sep or not sep2:
        raise ValueError(f"markers {start} … {end} not found")
    return f"{head}{start}\n{body.strip()}\n{end}{tail}"


def main(argv: list[str]) -> int:
    doc = render()
    readme = splice(README.read_text(), START, END, sections())
    if "--check" in argv:
        stale = [
            p
            for p, text in ((DOC, doc), (README, readme))
            if not p.exists() or p.read_text() != text
        ]
        if stale:
            names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
            print(f"{names} stale: run `python -m shared.config_docs`", file=sys.stderr)
            return 1
        return 0
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(doc)
    README.write_text(readme)
    print(f"wrote {DOC.relative_to(ROOT)} and the README's configuration section")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
