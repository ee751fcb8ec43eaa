"""`python -m bench.stack_subset PKG,...`: `python -m shared.stack` limited to PKGs.

The stack serves every service package it finds; while one is still being
built (importable but not yet startable) that would fail the whole stack.
S1 measures the stack of the services that do start on their own.
"""

from __future__ import annotations

import sys

from shared import stack
from shared.service import discover

if __name__ == "__main__":
    wanted = set(sys.argv[1].split(","))
    sys.exit(stack.main([s for s in discover() if s.name in wanted]))
