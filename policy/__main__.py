"""The dataops-monitoring policy pack: `pulumi preview --policy-pack policy` runs it.

The policies live in dataops_policy/ (plain functions, tested without the CLI in
tests/test_policy.py); this file only serves them. See docs/policy.md.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from dataops_policy import PACK_NAME, POLICIES  # noqa: E402
from dataops_policy import secret_markers  # noqa: E402

# pulumi-policy's Analyze drops the secret markers the engine sends; keep them so
# no-plaintext-credentials can tell a Pulumi secret from a plain value (secret_markers.py).
secret_markers.install()

PolicyPack(
    name=PACK_NAME,
    policies=POLICIES,
    # Each policy sets its own level; a policy added without one blocks until reviewed.
    enforcement_level=EnforcementLevel.MANDATORY,
    description="dataops-monitoring guardrails: no plaintext credentials, pinned images, resources and "
    "restricted pod security on our workloads, exact chart versions, selectable and complete alert rules; "
    "advisory: prod protects its state, images from approved registries.",
)
