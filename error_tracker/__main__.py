"""`python -m error_tracker [--healthcheck]`."""

import sys

from shared.entry import main

if __name__ == "__main__":
    sys.exit(main("error_tracker"))
