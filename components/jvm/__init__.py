"""JvmMonitoring: heap and GC rules (rules/jvm.rules.yaml) of every jmx_exporter 0.x or
client_java DefaultExports JVM the stack scrapes.

Not a platform layer: it has no scrape target of its own. It is deployed when any deployed
layer runs such JVMs (``Layer.runs_jvm``: Spark's pods, the Hive Metastore's agent, the
Bitbucket exporter app). The rules used to live in SparkMonitoring, so turning Spark off took
the Hive and Bitbucket heap alerts with it.
"""

from __future__ import annotations

from typing import Sequence

import pulumi

from core.rules import domain_rule
from core.wiring import Wiring

# The rule keeps the labels and dashboard it had under SparkMonitoring: same object, new parent.
COMPONENT = "spark-monitoring"
DASHBOARD = "dataops-03-workload"
# Where the PrometheusRule lived before (an alias: an update of its parent, not a delete and
# create of a same-named object, which would leave no rule behind).
FORMER_PARENT_NAME, FORMER_PARENT_TYPE = "spark", "dataops:monitoring:SparkMonitoring"


def runs_jvms(layers: Sequence) -> bool:
    """Whether any of the deployed layers runs JVMs whose series rules/jvm.rules.yaml reads."""
    return any(layer.runs_jvm for layer in layers)


class JvmMonitoring(pulumi.ComponentResource):
    def __init__(self, name: str, jvm_layers: Sequence[str], wiring: Wiring):
        """``jvm_layers``: the deployed layers whose JVMs these rules watch (an output, for the record)."""
        super().__init__("dataops:monitoring:JvmMonitoring", name, None, wiring.opts)
        moved = [pulumi.Alias(parent=pulumi.create_urn(FORMER_PARENT_NAME, FORMER_PARENT_TYPE))]
        self.rules = domain_rule("jvm", wiring, self, COMPONENT, DASHBOARD, aliases=moved)
        self.register_outputs({"layers": list(jvm_layers)})
