"""python -m tools.gameday: see tools/gameday/__init__.py."""

import sys

from tools.gameday.run import main

sys.exit(main())
