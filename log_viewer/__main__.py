"""`python -m log_viewer [--healthcheck]`."""

import sys

from log_viewer import SERVICE

if __name__ == "__main__":
    sys.exit(SERVICE.main())
