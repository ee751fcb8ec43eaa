"""`python -m metrics_collector [--healthcheck]`."""

from __future__ import annotations

import sys

from metrics_collector.app import build
from metrics_collector.config import VARIABLES
from shared.server import main

if __name__ == "__main__":
    sys.exit(main("metrics_collector", VARIABLES, build))
