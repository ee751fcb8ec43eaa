"""`python -m metrics_collector [--healthcheck]`."""

import sys

from metrics_collector import SERVICE

if __name__ == "__main__":
    sys.exit(SERVICE.main())
