"""`python -m error_tracker [--healthcheck]`."""

import sys

from error_tracker import SERVICE

if __name__ == "__main__":
    sys.exit(SERVICE.main())
