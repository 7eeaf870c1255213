"""Write the SLO rule file promtool checks: ``rules/slo.rules.yaml``.

    python -m tools.slo_rules            # regenerate from the prod stack's settings
    python -m tools.slo_rules --check    # exit 1 if the committed file is stale
    python -m tools.slo_rules --windows  # rules/tests/slo-windows.rules.yaml (add --check to verify)

The file holds the rules for the default SLOs as the prod stack configures them
(platform availability, pipeline latency, and data freshness for prod's
``sloFreshnessTables``). The Alerting component generates its SLO PrometheusRule from
each stack's own settings with the same code, so the CR always matches its stack.

``--windows`` writes the promtool fixture ``rules/tests/slo-windows.rules.yaml``: three
stand-in SLOs (``WINDOW_SLOS``, not deployed anywhere) that differ only in their window
(7d, 30d, 90d), so ``rules/tests/slo-windows.test.yaml`` shows the burn pairs each window gets.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.mock_engine import PROJECT, ROOT, ProgramMocks, open_event_loop, stack_config

SLO_RULES_FILE = ROOT / "rules" / "slo.rules.yaml"
WINDOW_RULES_FILE = ROOT / "rules" / "tests" / "slo-windows.rules.yaml"
SOURCE_STACK = "prod"
# promtool evaluates the fixture every 5 minutes (rules/tests/slo-windows.test.yaml): 3 days
# of history at 1m would take minutes of CPU; the alerts have no `for`, so 5m loses nothing.
WINDOW_RULES_INTERVAL = "5m"


def window_slos():
    """Stand-in SLOs for the promtool fixture: the same SLI and objective over 7d, 30d and 90d."""
    from components.slo.settings import SloSpec

    return tuple(
        SloSpec(
            name=f"window-{window}",
            objective=0.99,
            window=window,
            description=f"Stand-in SLO (promtool fixture only) over {window}: requests that do not fail.",
            good="sum(rate(fixture_requests_total[${window}])) - sum(rate(fixture_request_failures_total[${window}]))",
            total="sum(rate(fixture_requests_total[${window}]))",
        )
        for window in ("7d", "30d", "90d")
    )


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


def generate_windows() -> str:
    from components.slo.rules import render_slo_rules_yaml

    return render_slo_rules_yaml(window_slos(), WINDOW_RULES_INTERVAL).replace(
        "`python -m tools.slo_rules` from settings.slos", "`python -m tools.slo_rules --windows` from window_slos() (stand-in SLOs)", 1
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if rules/slo.rules.yaml is not up to date")
    parser.add_argument("--windows", action="store_true", help="the 7d/30d/90d promtool fixture instead (rules/tests/slo-windows.rules.yaml)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    text = generate_windows() if args.windows else generate()
    args.out = args.out or (WINDOW_RULES_FILE if args.windows else SLO_RULES_FILE)
    if args.check:
        if not args.out.exists() or args.out.read_text(encoding="utf-8") != text:
            print(f"{args.out} is stale: run python -m tools.slo_rules{' --windows' if args.windows else ''}", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
