"""The key paths of a chart's values.yaml (and its subcharts', under their names): the list
tests/test_chart_hardening.py checks our Helm values against, without the chart itself here.

    python -m tools.chart_keys CHART_VALUES [SUBCHART=VALUES ...] > policy/chart-keys/kube-prometheus-stack-88.5.3.txt

One dotted path a line; a path whose default is an empty map ends with " {}" (anything may go
under it). Regenerate it from the new chart's values files when kubePrometheusStackVersion moves.
"""

from __future__ import annotations

import sys
from typing import Any, Iterator

import yaml


def key_paths(values: Any, prefix: str = "") -> Iterator[str]:
    if not isinstance(values, dict):
        return
    for key in sorted(values, key=str):
        path = f"{prefix}.{key}" if prefix else str(key)
        value = values[key]
        yield f"{path} {{}}" if value == {} else path
        yield from key_paths(value, path)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    lines: set[str] = set(key_paths(yaml.safe_load(open(argv[0], encoding="utf-8"))))
    for item in argv[1:]:
        name, path = item.split("=", 1)
        lines.add(name)
        lines |= set(key_paths(yaml.safe_load(open(path, encoding="utf-8")), name))
    print("\n".join(sorted(lines)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
