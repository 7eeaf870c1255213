"""`make e2e`: the real Pulumi engine against a real (local) Kubernetes API server.

    python -m e2e.run test [--stacks dev,staging,prod]   # the whole e2e; stops everything after
    python -m e2e.run up --stack dev                      # make up: cluster + `pulumi up`, left running
    python -m e2e.run down                                # make down: destroy and stop by PID

Per stack: `pulumi stack init`, config from the stack file plus test secrets, `pulumi preview`
on the empty cluster (its resources must equal the mock render's), `pulumi up`, `pulumi preview
--expect-no-changes`, a settings change whose `preview --diff` shows exactly the expected update
and whose `up` changes the object in the API server, a secret rotation, the operator's output
checked (promtool on its configuration, a scrape job per monitor, every rule file, nothing
rejected), the policy pack in a real preview, and `pulumi destroy` (prod: `protect` stops it).

STAND-INS, said wherever they are used: the kube-prometheus-stack chart (e2e/chart: the real one
cannot be fetched here), the Python language host (the module proxy does not serve the real
one), kwok's fake Nodes (no container runs).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from e2e import checks, jenkins
from e2e.build import binary_path
from e2e.build import main as build_main
from e2e.cluster import CONTEXT, CONTROL_PLANE, LocalCluster
from e2e.crd_chart import make_chart
from e2e.kube import wait_for
from e2e.paths import CACHE_ROOT, REPO_ROOT
from e2e.plans import PLANS, StackPlan, random_secret
from e2e.pulumi_cli import PulumiCli, PulumiError

RUN_DIR = CACHE_ROOT / "run"  # make e2e: everything of one run; the next run starts clean
LOCAL_DIR = CACHE_ROOT / "local"  # make up / make down: the local trial cluster, kept between the two


def say(message: str) -> None:
    print(f"e2e: {message}", flush=True)


@dataclass
class Run:
    cluster: LocalCluster
    pulumi: PulumiCli
    chart: Path
    summary: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ set-up
    @classmethod
    def start(cls, run_dir: Path = RUN_DIR) -> "Run":
        binaries = {name: binary_path(name) for name in CONTROL_PLANE}
        cluster = LocalCluster(run_dir, binaries)
        leftovers = cluster.clean_leftovers()
        if leftovers:
            say(f"stopped what an earlier run left running: {', '.join(leftovers)}")
        try:
            cluster.start()
            say(f"control plane up in {cluster.timings['control_plane_start_seconds']} s "
                f"(API server ready after {cluster.timings['apiserver_ready_seconds']} s), https://127.0.0.1:{cluster.api_port}")
            port = cluster.start_operator(binary_path("prometheus-operator"))
            say(f"prometheus-operator v0.93.1 running as a local process, metrics on 127.0.0.1:{port}")
            cluster.add_storage(storage_classes())
            chart = make_chart(run_dir / "chart")
            say(f"chart: STAND-IN kube-prometheus-stack 88.5.3 (e2e/chart) with the operator's {len(list((chart / 'crds').iterdir()))} CRDs of v0.93.1 (schemas whole, descriptions left out)")
            pulumi = PulumiCli(run_dir, cluster.kubeconfig)
            pulumi.prepare()
            say(pulumi.version().splitlines()[0] + " (pulumi CLI built from pkg/v3)")
        except BaseException:
            cluster.stop()  # nothing left running when the start itself fails
            raise
        return cls(cluster, pulumi, chart)

    def stop(self) -> None:
        stopped = self.cluster.stop()
        say(f"stopped by PID: {', '.join(stopped)}")

    # ------------------------------------------------------------------ one stack
    def configure(self, plan: StackPlan) -> None:
        p = self.pulumi
        p.run(["stack", "init", plan.name, "--secrets-provider", "passphrase"])
        p.run(["config", "set", "dataops-monitoring:kubeContext", CONTEXT], stack=plan.name)
        p.run(["config", "set", "dataops-monitoring:kubePrometheusStackChart", str(self.chart)], stack=plan.name)
        for key in ("grafanaAdminPassword", *plan.secrets):
            p.run(["config", "set", "--secret", f"dataops-monitoring:{key}", random_secret(key)], stack=plan.name)

    def mock_render(self, plan: StackPlan) -> dict:
        """The mock engine's render of the same stack file (secrets as placeholders)."""
        out = RUN_DIR / "render" / plan.name
        stack_file = self.pulumi.project / f"Pulumi.{plan.name}.yaml"
        subprocess_run([str(REPO_ROOT / ".venv" / "bin" / "python"), "-m", "tools.render", plan.name, "--out", str(out), "--stack-file", str(stack_file), "--as-deployed"])
        return json.loads((out / "resources.json").read_text())

    def stack(self, plan: StackPlan) -> dict:
        p, kube, name = self.pulumi, self.cluster.kube, plan.name
        result: dict = {"stack": name}
        self.configure(plan)

        render = self.mock_render(plan)
        self.platform_namespaces(name, render)
        preview = p.json(["preview"], stack=name, timed="preview")
        real = checks.preview_resources(preview)
        mock = checks.render_resources(render)
        if real != mock:
            raise AssertionError(
                f"{name}: the real preview and the mock render differ.\n"
                f"  only in the real preview: {sorted(real - mock)}\n  only in the mock render: {sorted(mock - real)}"
            )
        result["resources"] = {"real_preview": len(real), "mock_render": len(mock)}
        say(f"{name}: real preview = mock render: {len(real)} resources (type, name, parent)")

        p.run(["up", "--yes", "--skip-preview"], stack=name, timed="up")
        say(f"{name}: pulumi up done")
        p.run(["preview", "--expect-no-changes"], stack=name, timed="preview-no-change")
        say(f"{name}: pulumi preview --expect-no-changes: no changes")

        result["operator"] = self.check_operator(name)

        p.run(["preview", "--policy-pack", "policy"], stack=name, timed="preview-policy")
        say(f"{name}: the policy pack passes in a real preview")
        if name == "dev":
            self.policy_blocks_a_violation(name)
            self.bad_input_gets_the_settings_message(name)

        # A settings change: exactly the expected update, then the object changes in the API server.
        p.run(["config", "set", f"dataops-monitoring:{plan.change_key}", plan.change_value], stack=name)
        changed = checks.changed_steps(p.json(["preview", "--diff"], stack=name))
        expected = {key: "update" for key in plan.expect_changed}
        if changed != expected:
            raise AssertionError(f"{name}: {plan.change_key}={plan.change_value} should update exactly {expected}, the preview shows {changed}")
        p.run(["up", "--yes", "--skip-preview"], stack=name, timed="up-change")
        wait_for(lambda: plan.check_change(kube), 60, f"{plan.change_key}={plan.change_value} in the API server")
        say(f"{name}: {plan.change_key} -> {plan.change_value}: preview showed exactly {sorted(expected)}; the API server has it")

        # A secret rotation reaches the Secret and nothing else.
        rotated = random_secret("grafanaAdminPassword")
        p.run(["config", "set", "--secret", "dataops-monitoring:grafanaAdminPassword", rotated], stack=name)
        changed = checks.changed_steps(p.json(["preview", "--diff"], stack=name))
        if changed != {("kubernetes:core/v1:Secret", "grafana-admin"): "update"}:
            raise AssertionError(f"{name}: rotating grafanaAdminPassword should update only the grafana-admin Secret, the preview shows {changed}")
        p.run(["up", "--yes", "--skip-preview"], stack=name, timed="up-rotation")
        if checks.secret_value(kube, "grafana-admin", "admin-password") != rotated:
            raise AssertionError(f"{name}: the rotated password is not in the grafana-admin Secret")
        say(f"{name}: grafanaAdminPassword rotated: only the grafana-admin Secret changed, and it holds the new value")
        p.run(["preview", "--expect-no-changes"], stack=name)

        self.destroy(plan)
        result["timings"] = {t["step"]: t["seconds"] for t in p.timings if t["stack"] == name}
        return result

    def policy_blocks_a_violation(self, name: str) -> None:
        """A deliberately violating config (an image from an unapproved registry, with that
        policy made mandatory and given the registries the way docs/policy.md configures a pack) is blocked."""
        p = self.pulumi
        key = "dataops-monitoring:statsdExporterImage"
        config = self.cluster.run_dir / "policy-config.json"
        # No registry is approved by default (policy/dataops_policy/policies.py): the config names
        # the ones our stacks pull from, as docs/policy.md shows a team doing.
        approved = ["registry.dataops.internal/dataops", "quay.io/prometheus", "quay.io/thanos", "docker.io/prom"]
        config.write_text(json.dumps({"approved-image-registries": {"enforcementLevel": "mandatory", "approvedRegistries": approved}}))
        p.run(["config", "set", key, "ghcr.io/not-approved/statsd-exporter:v0.28.0"], stack=name)
        result = p.run(["preview", "--policy-pack", "policy", "--policy-pack-config", str(config)], stack=name, check=False)
        p.run(["config", "rm", key], stack=name)
        output = result.stdout + result.stderr
        if result.returncode == 0 or "approved-image-registries" not in output:
            raise AssertionError(f"{name}: the policy pack did not block an unapproved registry (exit {result.returncode}):\n{output[-2000:]}")
        line = next(line.strip() for line in output.splitlines() if "not under an approved registry" in line or "approved-image-registries" in line)
        say(f"{name}: the policy pack blocks a violating config in a real preview: {line[:160]}")

    def bad_input_gets_the_settings_message(self, name: str) -> None:
        """Bad settings through the real CLI: the program's one message, every problem with its fix."""
        p = self.pulumi
        p.run(["config", "set", "dataops-monitoring:prometheusReplicas", "0"], stack=name)
        p.run(["config", "set", "dataops-monitoring:prometheusRetention", "forever"], stack=name)
        result = p.run(["preview"], stack=name, check=False)
        p.run(["config", "rm", "dataops-monitoring:prometheusReplicas"], stack=name)
        p.run(["config", "rm", "dataops-monitoring:prometheusRetention"], stack=name)
        output = result.stdout + result.stderr
        expected = ("Invalid stack configuration (2 problems)", "prometheusReplicas = '0'", "prometheusRetention = 'forever'", "Fix: pulumi config set")
        missing = [text for text in expected if text not in output]
        if result.returncode == 0 or missing or "Traceback" in output:
            raise AssertionError(f"{name}: bad input through the real CLI: exit {result.returncode}, missing {missing}:\n{output[-3000:]}")
        say(f"{name}: bad input through the real CLI: one settings message listing both problems with their fixes, no traceback")

    def jenkins(self) -> dict:
        """The Jenkinsfile's pulumi steps for a change request, main and the nightly drift check,
        as its Groovy harness records them, run against this cluster (e2e/jenkins.py). Staging and
        prod share this one cluster, so each gets its own namespace here (on their real clusters
        both use the default); prod's protected leftovers from its own test go first."""
        p = self.pulumi
        p.run(["state", "unprotect", "--all", "--yes"], stack="prod")
        p.run(["destroy", "--yes", "--skip-preview"], stack="prod")
        wait_for(lambda: not self.cluster.kube.exists(f"/api/v1/namespaces/{checks.NAMESPACE}"), 180, "prod's namespace to be gone", interval=1)
        for stack in ("staging", "prod"):
            p.run(["config", "set", "dataops-monitoring:namespace", f"monitoring-{stack}"], stack=stack)
        steps = jenkins.recorded_steps()
        ran = {event: jenkins.run_event(p, event, steps[event], say) for event in jenkins.EVENTS}
        plan = p.project / "build" / "plan" / "prod-preview.txt"
        if not plan.exists() or "--plan" not in " ".join(c for c in steps["main"] if "pulumi up" in c and "prod" in c):
            raise AssertionError("main: prod's preview was not archived or its up did not apply the saved plan")
        say("jenkins: main: prod was previewed (plan saved, preview archived) before the approval and `pulumi up --plan` applied that plan")
        return ran

    def platform_namespaces(self, name: str, render: dict) -> None:
        """The platform's own namespaces (Spark, Airflow, ...) exist on a real cluster before
        monitoring is deployed (a documented prerequisite); here they are made first."""
        wanted = sorted({
            namespace
            for resource in render["resources"]
            if isinstance(namespace := ((resource["inputs"].get("metadata") or {}).get("namespace")), str) and namespace != checks.NAMESPACE
        })
        for namespace in wanted:
            self.cluster.kube.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": {"dataops.e2e/prerequisite": "true"}}})
        if wanted:
            say(f"{name}: the platform's namespaces, a prerequisite, made first: {', '.join(wanted)}")

    def check_operator(self, name: str) -> dict:
        kube = self.cluster.kube
        wait_for(lambda: checks.generated_config(kube), 120, "the operator's Prometheus configuration Secret")
        try:
            # The operator reconciles asynchronously: wait until it has caught up with every monitor.
            wait_for(lambda: not checks.missing_scrape_jobs(kube, checks.generated_config(kube)), 120, "a scrape job for every monitor", interval=2)
        except TimeoutError:
            missing = checks.missing_scrape_jobs(kube, checks.generated_config(kube))
            raise AssertionError(f"{name}: no scrape job for {missing}") from None
        config_text = checks.generated_config(kube)
        verdict = checks.check_config_with_promtool(binary_path("promtool"), config_text, self.cluster.run_dir)
        wait_for(lambda: not checks.missing_rule_files(kube), 120, "every selected PrometheusRule in a rule ConfigMap", interval=2)
        rejected = checks.operator_rejections(self.cluster.operator_port)
        if rejected:
            raise AssertionError(f"{name}: the operator rejected resources or failed syncs: {rejected}")
        jobs = len(yaml.safe_load(config_text).get("scrape_configs") or [])
        rules = sum(1 for r in checks.our_objects(kube, "PrometheusRule") if (r["metadata"].get("labels") or {}).get("dataops.io/rules") == "true")
        say(f"{name}: operator: {jobs} scrape jobs (one per monitor), {rules} rule files loaded, nothing rejected; promtool check config: {verdict}")
        return {"scrape_jobs": jobs, "rule_files": rules, "promtool": verdict}

    def destroy(self, plan: StackPlan) -> None:
        p, kube = self.pulumi, self.cluster.kube
        if plan.protected:
            result = p.run(["destroy", "--yes"], stack=plan.name, check=False, timed="destroy")
            output = result.stdout + result.stderr
            if result.returncode == 0 or "protect" not in output:
                raise AssertionError(f"{plan.name}: destroy should be stopped by protect; exit {result.returncode}:\n{output[-2000:]}")
            reason = next((line.strip() for line in output.splitlines() if "protect" in line), "")
            say(f"{plan.name}: pulumi destroy stopped by protect: {reason}")
            return
        p.run(["destroy", "--yes", "--skip-preview"], stack=plan.name, timed="destroy")
        wait_for(lambda: not kube.exists(f"/api/v1/namespaces/{checks.NAMESPACE}"), 180, "the monitoring namespace to be gone", interval=1)
        left = json.loads(p.run(["stack", "export"], stack=plan.name).stdout).get("deployment", {}).get("resources") or []
        if left:
            raise AssertionError(f"{plan.name}: resources left in the state after destroy: {[r.get('urn') for r in left]}")
        say(f"{plan.name}: pulumi destroy: everything gone, namespace included")


def subprocess_run(argv: list[str]) -> None:
    import subprocess

    result = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


def storage_classes() -> set[str]:
    """Every StorageClass a stack file asks for, and the default."""
    classes = {"longhorn"}
    for path in REPO_ROOT.glob("Pulumi.*.yaml"):
        config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
        value = config.get("dataops-monitoring:storageClass")
        if isinstance(value, str):
            classes.add(value)
    return classes


def test(stacks: list[str]) -> int:
    if build_main([]) != 0:
        return 2
    started = time.monotonic()
    run = Run.start()
    try:
        results = [run.stack(PLANS[name]) for name in stacks]
        jenkins_steps = run.jenkins() if {"staging", "prod"} <= set(stacks) else {}
    finally:
        run.stop()
    summary = {
        "jenkins_steps": jenkins_steps,
        "control_plane": run.cluster.timings,
        "stacks": results,
        "total_seconds": round(time.monotonic() - started, 1),
    }
    checks.write_json(RUN_DIR.parent / "e2e-summary.json", summary)
    for result in results:
        timings = " ".join(f"{step}={seconds}s" for step, seconds in result["timings"].items())
        say(f"bench: stack={result['stack']} resources(real preview)={result['resources']['real_preview']} "
            f"resources(mock render)={result['resources']['mock_render']} {timings}")
    say(f"bench: control-plane-start={run.cluster.timings['control_plane_start_seconds']}s total={summary['total_seconds']}s")
    say(f"PASSED: {', '.join(stacks)} (summary in {RUN_DIR.parent / 'e2e-summary.json'})")
    return 0


def up(stack: str) -> int:
    """make up: the local control plane, the operator and `pulumi up` of one stack, left running."""
    if build_main([]) != 0:
        return 2
    run = Run.start(LOCAL_DIR)
    plan = PLANS.get(stack) or StackPlan(stack, (), "", "", frozenset(), lambda _kube: True, protected=False)
    run.configure(plan)
    # A trial cluster has none of the platform's namespaces (Spark's, Airflow's): make them, as on a real one.
    run.platform_namespaces(stack, run.mock_render(plan))
    run.pulumi.run(["up", "--yes"], stack=stack, timed="up")
    outputs = run.pulumi.json(["stack", "output"], stack=stack)
    (LOCAL_DIR / "stack").write_text(stack)
    print(json.dumps(outputs, indent=2, sort_keys=True))
    say(f"stack {stack} is up on the local control plane (kube-apiserver https://127.0.0.1:{run.cluster.api_port}; "
        "its pods are kwok's fake pods: nothing runs in them)")
    say(f"look around: KUBECONFIG={run.cluster.kubeconfig} kubectl get all -n {checks.NAMESPACE}")
    say("the chart is the e2e STAND-IN (e2e/chart); `make down` destroys the stack and stops every process by PID")
    return 0


def down() -> int:
    """make down: destroy what make up deployed, then stop the control plane by PID."""
    cluster = LocalCluster(LOCAL_DIR, {name: binary_path(name) for name in CONTROL_PLANE})
    stack_file = LOCAL_DIR / "stack"
    if stack_file.exists() and (LOCAL_DIR / "api-port").exists() and not cluster.crashed():
        cluster.api_port = int((LOCAL_DIR / "api-port").read_text())
        pulumi = PulumiCli(LOCAL_DIR, cluster.kubeconfig)
        stack = stack_file.read_text().strip()
        result = pulumi.run(["destroy", "--yes", "--skip-preview"], stack=stack, check=False)
        say(f"pulumi destroy --stack {stack}: exit {result.returncode}" + ("" if result.returncode == 0 else " (see logs/pulumi.log)"))
    stopped = cluster.clean_leftovers()
    say(f"stopped by PID: {', '.join(stopped) or 'nothing was running'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("test", help="the whole e2e")
    t.add_argument("--stacks", default="dev,staging,prod")
    u = sub.add_parser("up", help="make up: deploy one stack on the local control plane and leave it running")
    u.add_argument("--stack", default="dev")
    sub.add_parser("down", help="make down: destroy it and stop every process")
    args = parser.parse_args(argv)
    if args.command == "up":
        try:
            return up(args.stack)
        except (AssertionError, PulumiError, TimeoutError, RuntimeError) as err:
            say(f"FAILED: {err}")
            say(f"logs: {LOCAL_DIR / 'logs'}; `make down` stops what was started")
            return 1
    if args.command == "down":
        return down()
    if args.command == "test":
        stacks = [s for s in args.stacks.split(",") if s]
        unknown = [s for s in stacks if s not in PLANS]
        if unknown:
            parser.error(f"unknown stacks {unknown}; the e2e knows {sorted(PLANS)}")
        try:
            return test(stacks)
        except (AssertionError, PulumiError, TimeoutError, RuntimeError) as err:
            say(f"FAILED: {err}")
            say(f"logs: {RUN_DIR / 'logs'}")
            return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
