"""`python -m error_tracker [--healthcheck]`."""

from __future__ import annotations

import sys

from error_tracker.app import build
from error_tracker.config import VARIABLES
from shared.server import main

if __name__ == "__main__":
    sys.exit(main("error_tracker", VARIABLES, build))
