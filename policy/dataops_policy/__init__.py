"""dataops-monitoring's CrossGuard policies (pulumi_policy), importable without the CLI.

``policy/__main__.py`` serves them as the ``dataops-monitoring`` policy pack;
``tests/test_policy.py`` calls each policy's ``validate`` on the rendered stacks.
"""

from .policies import POLICIES, config_defaults

PACK_NAME = "dataops-monitoring"
MANDATORY_POLICIES = [p.name for p in POLICIES if p.enforcement_level is not None and p.enforcement_level.value == "mandatory"]
ADVISORY_POLICIES = [p.name for p in POLICIES if p.enforcement_level is not None and p.enforcement_level.value == "advisory"]

__all__ = ["PACK_NAME", "POLICIES", "MANDATORY_POLICIES", "ADVISORY_POLICIES", "config_defaults"]
