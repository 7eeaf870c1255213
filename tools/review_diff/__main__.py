"""python -m tools.review_diff: see tools/review_diff/__init__.py."""

import sys

from tools.review_diff.cli import main

sys.exit(main())
