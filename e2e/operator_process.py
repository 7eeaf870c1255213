"""Runs the prometheus-operator the way its Deployment would: started once the chart's CRDs
are established, restarted whenever it exits.

The operator starts only the controllers whose CRDs exist when it starts, and never looks
again; in a cluster the chart installs its CRDs before the operator's pod exists. Here the
operator is a local process that is up before `pulumi up` installs the chart, so this waits
for every monitoring.coreos.com CRD of the release to be Established first.

    python -m e2e.operator_process RUN_DIR API_PORT -- OPERATOR [ARGS...]
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from e2e.kube import ApiError, Kube

# The CRDs of operator v0.93.1 (its example/prometheus-operator-crd folder).
CRDS = (
    "alertmanagerconfigs", "alertmanagers", "podmonitors", "probes", "prometheusagents",
    "prometheuses", "prometheusrules", "scrapeconfigs", "servicemonitors", "thanosrulers",
)


def established(kube: Kube) -> bool:
    try:
        found = {
            crd["metadata"]["name"]
            for crd in kube.items("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
            if any(c["type"] == "Established" and c["status"] == "True" for c in (crd.get("status") or {}).get("conditions") or ())
        }
    except (OSError, ApiError, ValueError):
        return False  # the API server is starting or stopping: ask again
    return all(f"{name}.monitoring.coreos.com" in found for name in CRDS)


def main(argv: list[str]) -> int:
    run_dir, port, separator, *command = argv
    assert separator == "--", "usage: RUN_DIR API_PORT -- OPERATOR [ARGS...]"
    pki = Path(run_dir) / "pki"
    kube = Kube(int(port), pki / "ca.crt", pki / "admin.crt", pki / "admin.key")
    while True:
        while not established(kube):
            time.sleep(1)
        code = subprocess.run(command).returncode
        print(f"prometheus-operator exited ({code}); restarting in 2s", flush=True)
        time.sleep(2)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(0)
