"""Write the SLO rule file promtool checks: ``rules/slo.rules.yaml``.

    python -m tools.slo_rules            # regenerate from the prod stack's settings
    python -m tools.slo_rules --check    # exit 1 if the committed file is stale

The file holds the rules for the default SLOs as the prod stack configures them
(platform availability, pipeline latency, and data freshness for prod's
``sloFreshnessTables``). The Alerting component generates its SLO PrometheusRule from
each stack's own settings with the same code, so the CR always matches its stack.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.mock_engine import PROJECT, ROOT, ProgramMocks, open_event_loop, stack_config

SLO_RULES_FILE = ROOT / "rules" / "slo.rules.yaml"
SOURCE_STACK = "prod"


def load_stack_settings(stack: str = SOURCE_STACK):
    """The stack's settings as ``load_settings`` sees them (secrets are placeholders, never read)."""
    import pulumi
    from pulumi.runtime import config as runtime_config
    from pulumi.runtime import mocks as pulumi_mocks

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from settings import load_settings

    config, secret_keys = stack_config(stack, placeholder_secrets=True)
    open_event_loop()
    pulumi_mocks.set_mocks(ProgramMocks(preview=True), project=PROJECT, stack=stack, preview=True)
    runtime_config.set_all_config(dict(config), list(secret_keys))
    return load_settings(pulumi.Config(PROJECT))


def generate(stack: str = SOURCE_STACK) -> str:
    from components.slo.rules import render_slo_rules_yaml

    settings = load_stack_settings(stack)
    return render_slo_rules_yaml(settings.slos, settings.prometheus.evaluation_interval)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if rules/slo.rules.yaml is not up to date")
    parser.add_argument("--out", type=Path, default=SLO_RULES_FILE)
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        if not args.out.exists() or args.out.read_text(encoding="utf-8") != text:
            print(f"{args.out} is stale: run python -m tools.slo_rules", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
