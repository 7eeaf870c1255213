"""Entry point: ``python -m exporters.iceberg``."""

import sys

from exporters.iceberg.app import main

if __name__ == "__main__":
    sys.exit(main())
