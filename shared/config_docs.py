"""`python -m shared.config_docs`: (re)write the configuration docs from the Var tables.

Writes docs/configuration.md and the README's section between the
`<!-- config:start -->` and `<!-- config:end -->` markers. Run with `--check`
(the test suite does) to fail when either is stale.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from shared.config import markdown_table
from shared.stack import available

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
5010–5013 and `DATABASE_PATH` under `./data/` itself, and takes each key from
`ERROR_TRACKER_API_KEY`, `LOG_VIEWER_API_KEY`, `METRICS_COLLECTOR_API_KEY`
and `BROWSER_RELAY_ADMIN_API_KEY` — or generates development keys and keeps
them in `data/dev-keys.env`. `MONLIGHT_DATA_DIR`, `MONLIGHT_HOST` and
`MONLIGHT_BASE_PORT` move those.
"""


def sections() -> str:
    parts = []
    for member in available():
        variables = importlib.import_module(f"{member.package}.config").VARIABLES
        parts.append(f"\n### {member.title} (`python -m {member.package}`)\n\n")
        parts.append(markdown_table(variables) + "\n")
    return "".join(parts)


def render() -> str:
    return HEADER + sections().replace("\n### ", "\n## ")


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
