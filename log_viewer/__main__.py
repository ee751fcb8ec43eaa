"""`python -m log_viewer [--healthcheck]`."""

import sys

from shared.entry import main

if __name__ == "__main__":
    sys.exit(main("log_viewer"))
