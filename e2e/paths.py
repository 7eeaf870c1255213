"""Where the e2e keeps what it builds and what it runs: outside the clone, keyed by version."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
GOMOD_DIR = REPO_ROOT / "e2e" / "gomod"
# Built binaries survive clones and CI runs on the same machine; DATAOPS_E2E_CACHE moves them.
CACHE_ROOT = Path(
    os.environ.get("DATAOPS_E2E_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dataops-monitoring" / "e2e"
)
