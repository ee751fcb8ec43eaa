"""`python -m metrics_collector [--healthcheck]`."""

import sys

from shared.entry import main

if __name__ == "__main__":
    sys.exit(main("metrics_collector"))
