"""`python -m browser_relay [--healthcheck]`."""

import sys

from shared.entry import main

if __name__ == "__main__":
    sys.exit(main("browser_relay"))
