"""`python -m browser_relay [--healthcheck]`."""

import sys

from browser_relay import SERVICE

if __name__ == "__main__":
    sys.exit(SERVICE.main())
