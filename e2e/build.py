"""Build the real programs `make e2e` runs, each from its wrapper Go module in e2e/gomod/.

Binaries go to a cache folder outside the clone, keyed by name, version and a digest of
the wrapper module, so a second run (and CI right after a session on the same machine)
reuses them. Every build prints its wall time and the peak memory of its largest process;
`--summary` prints what the cache holds.

    python -m e2e.build            # build what is missing
    python -m e2e.build --force    # rebuild (a warm Go build cache; for cold, empty GOCACHE)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from e2e.paths import CACHE_ROOT, GOMOD_DIR


@dataclass(frozen=True)
class GoTool:
    """One wrapper module and the binaries it builds."""

    name: str
    version: str  # what the binaries report; pinned_version when it differs is said
    binaries: dict[str, str]  # output file -> Go package path (or "." for the wrapper's main)
    ldflags: tuple[str, ...] = ()
    pinned_version: str = ""  # the version the project pins, where the built one differs
    why_different: str = ""
    copy_from_module: tuple[tuple[str, str], ...] = ()  # (module@version/relative path, file name)
    ship_with_binaries: tuple[str, ...] = ()  # of those copied files, the ones installed beside the binaries
    env: dict[str, str] = field(default_factory=dict)
    # "e2e": the real engine's parts (`make e2e-build`); "live": the programs we deploy that the
    # live tests and the game day run (`make tools` builds them when Go is installed); "chart":
    # helm, for `make checkov-chart` only.
    group: str = "e2e"
    tags: tuple[str, ...] = ()  # go build -tags, as the project's own release build sets them


KUBE_VERSION = "v1.37.2"
_KUBE_STAMP = tuple(
    f"-X {pkg}.{var}={value}"
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
    for var, value in (
        ("gitVersion", KUBE_VERSION),
        ("gitMajor", "1"),
        ("gitMinor", "37"),
        ("gitTreeState", "clean"),
        ("buildDate", "2026-10-27T12:01:04Z"),  # the release's module time: builds stay deterministic
    )
)
K8S_PROVIDER_MODULE = "github.com/pulumi/pulumi-kubernetes/provider/v4@v4.0.0-20260115033456-f47bc2d6f199"
_PROM_VERSION_PKG = "github.com/prometheus/common/version"


def _prometheus_stamp(version: str, build_user: str, *extra: str) -> tuple[str, ...]:
    """-ldflags for a program stamped through prometheus/common/version (Version, Branch, BuildUser, then ``extra``)."""
    return (
        f"-X {_PROM_VERSION_PKG}.Version={version}",
        f"-X {_PROM_VERSION_PKG}.Branch=HEAD",
        f"-X {_PROM_VERSION_PKG}.BuildUser={build_user}",
        *(f"-X {_PROM_VERSION_PKG}.{assignment}" for assignment in extra),
    )


TOOLS: tuple[GoTool, ...] = (
    GoTool(
        name="etcd",
        version="v3.7.0",
        binaries={"etcd": "."},
    ),
    GoTool(
        name="kubernetes",
        version=KUBE_VERSION,
        binaries={
            "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
            "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
            "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
        },
        ldflags=_KUBE_STAMP,
    ),
    GoTool(
        name="kwok",
        version="v0.8.0",
        binaries={"kwok": "sigs.k8s.io/kwok/cmd/kwok"},
        ldflags=("-X sigs.k8s.io/kwok/pkg/consts.Version=0.8.0",),
    ),
    GoTool(
        name="prometheus-operator",
        version="v0.93.1",
        binaries={"prometheus-operator": "github.com/prometheus-operator/prometheus-operator/cmd/operator"},
        ldflags=_prometheus_stamp("0.93.1", "dataops-e2e", "BuildDate=20260810-13:43:57"),
    ),
    GoTool(
        name="promtool",
        version="v3.14.0",
        binaries={"promtool": "github.com/prometheus/prometheus/cmd/promtool"},
        ldflags=_prometheus_stamp("3.14.0", "dataops-e2e"),
    ),
    GoTool(
        name="thanos",
        version="v0.42.4",
        binaries={"thanos": "github.com/thanos-io/thanos/cmd/thanos"},
        ldflags=_prometheus_stamp("0.42.4", "dataops-tools"),
        # Thanos' release build (.promu.yml) sets these: its zero-copy label handling assumes
        # Prometheus' slice labels; built without, Query panics decoding a store's label sets.
        tags=("netgo", "slicelabels"),
        group="live",
    ),
    GoTool(
        name="statsd_exporter",
        version="v0.28.0",
        binaries={"statsd_exporter": "github.com/prometheus/statsd_exporter"},
        ldflags=_prometheus_stamp("0.28.0", "dataops-tools"),
        group="live",
    ),
    GoTool(
        name="kube-state-metrics",
        version="v2.20.0",
        binaries={"kube-state-metrics": "k8s.io/kube-state-metrics/v2"},
        ldflags=_prometheus_stamp("2.20.0", "dataops-tools"),
        group="live",
    ),
    GoTool(
        # The controller our Spark rules read (spark_application_*_count); the game day runs it on
        # the e2e's local control plane. Stamped as its Makefile stamps it.
        name="spark-operator",
        version="v2.5.2",
        binaries={"spark-operator": "github.com/kubeflow/spark-operator/v2/cmd/operator"},
        ldflags=(
            "-X k8s.io/component-base/version.gitVersion=v2.5.2",
            "-X k8s.io/component-base/version.gitTreeState=clean",
        ),
        group="live",
    ),
    GoTool(
        # Not a program we deploy: the S3-compatible server (MIT) the live tests need where a
        # real S3 endpoint is (tests/test_real_object_storage.py). MinIO is AGPL: not used.
        name="gofakes3",
        version="v1.2.0",
        binaries={"gofakes3": "github.com/johannesboyne/gofakes3/cmd/gofakes3"},
        group="live",
    ),
    GoTool(
        name="helm",
        version="v3.22.1",
        binaries={"helm": "helm.sh/helm/v3/cmd/helm"},
        # As helm's Makefile stamps them: the version, and the Kubernetes version `helm template`
        # assumes (its client-go's, v0.37 -> 1.37; unstamped it is 1.20, which charts refuse).
        ldflags=(
            "-X helm.sh/helm/v3/internal/version.version=v3.22.1",
            "-X helm.sh/helm/v3/internal/version.gitTreeState=clean",
            *(f"-X helm.sh/helm/v3/pkg/{pkg}.k8sVersion{part}={value}" for pkg in ("chartutil", "lint/rules") for part, value in (("Major", "1"), ("Minor", "37"))),
        ),
        group="chart",
    ),
    GoTool(
        name="pulumi",
        version="v3.274.0",
        binaries={"pulumi": "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"},
        ldflags=("-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v3.274.0",),
        pinned_version="v3.272.0",
        why_different="the module proxy does not serve pkg/v3 v3.272.0; v3.274.0 is the nearest it serves",
    ),
    GoTool(
        name="pulumi-language-python",
        version="v3.274.0",
        binaries={"pulumi-language-python": "."},
        ldflags=("-X main.version=3.274.0",),
        copy_from_module=(
            ("github.com/pulumi/pulumi/sdk/v3@v3.274.0/python/cmd/pulumi-language-python-exec", "pulumi-language-python-exec"),
        ),
        ship_with_binaries=("pulumi-language-python-exec",),
        pinned_version="v3.272.0",
        why_different=(
            "STAND-IN: the module proxy serves no version of "
            "github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3, so this is our own "
            "small language host over sdk/v3's gRPC types (e2e/gomod/pulumi-language-python)"
        ),
    ),
    GoTool(
        name="pulumi-resource-kubernetes",
        version="v4.25.0",
        binaries={"pulumi-resource-kubernetes": "."},
        ldflags=("-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=4.25.0",),
        pinned_version="v4.34.2",
        why_different=(
            "the module proxy serves one commit of provider/v4 (f47bc2d6f199, the v4.25.0 release); "
            "it is installed as the plugin version the Python SDK 4.34.2 requests"
        ),
        copy_from_module=(
            (f"{K8S_PROVIDER_MODULE}/cmd/pulumi-resource-kubernetes/schema.json", "schema.json"),
            (f"{K8S_PROVIDER_MODULE}/cmd/pulumi-resource-kubernetes/terraform-mapping.json", "terraform-mapping.json"),
        ),
    ),
)


def wrapper_digest(tool: GoTool) -> str:
    """Digest of the wrapper module's files and the build recipe: a change rebuilds."""
    h = hashlib.sha256()
    for path in sorted((GOMOD_DIR / tool.name).iterdir()):
        if path.is_file():
            h.update(path.name.encode() + b"\0" + path.read_bytes())
    recipe = [tool.version, tool.binaries, tool.ldflags] + ([list(tool.tags)] if tool.tags else [])
    h.update(json.dumps(recipe, sort_keys=True).encode())
    return h.hexdigest()[:12]


def tool_dir(tool: GoTool) -> Path:
    return CACHE_ROOT / "bin" / tool.name / f"{tool.version}-{wrapper_digest(tool)}"


def binary_path(name: str) -> Path:
    """Path of one built binary (whether or not it is built yet)."""
    for tool in TOOLS:
        if name in tool.binaries:
            return tool_dir(tool) / name
    raise KeyError(name)


def _module_dir(module_at_version: str) -> Path:
    module, _, rest = module_at_version.partition("@")
    version, _, _ = rest.partition("/")
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"], capture_output=True, text=True, check=True
    )
    return Path(json.loads(out.stdout)["Dir"])


# Runs one command in a fresh Python process and prints the largest RSS among the processes it
# waited for (go build's compile and link steps): each build's own peak, not this process's.
_MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def _run_measured(cmd: list[str], cwd: Path, env: dict[str, str]) -> int:
    """Run ``cmd``; returns the peak RSS in KiB of the largest process it ran."""
    result = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], cwd=cwd, env=env, stderr=subprocess.PIPE, text=True)
    lines = result.stderr.rstrip().splitlines()
    sys.stderr.write("\n".join(lines[:-1]) + ("\n" if len(lines) > 1 else ""))
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, cmd)
    return int(lines[-1]) if lines and lines[-1].isdigit() else 0


def module_file(module_at_version: str, relative: str) -> Path:
    """A file of a Go module at an exact version, from the module cache (downloaded if needed):
    data the e2e uses as its owners ship it (kwok's stage files, the operator's CRDs)."""
    return _module_dir(module_at_version) / relative


def build(tool: GoTool) -> dict:
    """Build one tool into its cache folder; returns the measured figures."""
    dest = tool_dir(tool)
    work = CACHE_ROOT / "src" / f"{tool.name}-{tool.version}-{wrapper_digest(tool)}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(GOMOD_DIR / tool.name, work)
    for source, file_name in tool.copy_from_module:
        module_at_version, _, relative = source.partition("@")
        version, _, relative = relative.partition("/")
        shutil.copyfile(_module_dir(f"{module_at_version}@{version}") / relative, work / file_name)
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false", **tool.env}
    started = time.monotonic()
    peak_kib = 0
    for binary, package in tool.binaries.items():
        cmd = ["go", "build", "-trimpath", "-p", str(os.cpu_count() or 2), "-o", str(staging / binary)]
        if tool.ldflags:
            cmd += ["-ldflags", " ".join(tool.ldflags)]
        if tool.tags:
            cmd += ["-tags", ",".join(tool.tags)]
        cmd.append(package)
        print(f"e2e build: {tool.name}: {' '.join(cmd[:2])} ... {package}", flush=True)
        peak_kib = max(peak_kib, _run_measured(cmd, cwd=work, env=env))
    for file_name in tool.ship_with_binaries:
        shutil.copy2(work / file_name, staging / file_name)
        (staging / file_name).chmod(0o755)
    wall = time.monotonic() - started
    figures = {
        "tool": tool.name,
        "version": tool.version,
        "wall_seconds": round(wall, 1),
        # ru_maxrss of children: the largest single process waited for so far (compile or link).
        "peak_rss_mib": round(peak_kib / 1024),
    }
    previous = dest / "build.json"
    if previous.exists():  # a rebuild (--force, warm Go caches): keep the first build's figures too
        earlier = json.loads(previous.read_text())
        figures["first_build"] = earlier.get("first_build") or {k: earlier[k] for k in ("wall_seconds", "peak_rss_mib") if k in earlier}
    (staging / "build.json").write_text(json.dumps(figures, indent=2) + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    shutil.rmtree(work, ignore_errors=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="rebuild even what the cache holds")
    parser.add_argument("--only", action="append", default=[], help="build only this tool (repeatable)")
    parser.add_argument("--summary", action="store_true", help="print the cache's figures and versions only")
    parser.add_argument("--group", choices=("e2e", "live", "chart", "all"), default="e2e", help="which tools (default: the e2e's)")
    args = parser.parse_args(argv)
    if shutil.which("go") is None and not args.summary:
        print("e2e build: Go is not installed; make e2e needs Go (see e2e/README.md)", file=sys.stderr)
        return 2
    for tool in TOOLS:
        if args.only and tool.name not in args.only:
            continue
        if not args.only and args.group != "all" and tool.group != args.group:
            continue
        built = all((tool_dir(tool) / b).exists() for b in tool.binaries)
        if args.summary or (built and not args.force):
            record = tool_dir(tool) / "build.json"
            figures = json.loads(record.read_text()) if record.exists() else {}
            state = "cached" if built else "MISSING"
            first = figures.get("first_build") or figures
            warm = f", warm rebuild {figures['wall_seconds']} s" if "first_build" in figures else ""
            print(
                f"e2e build: {tool.name} {tool.version} {state}"
                f" (first build: {first.get('wall_seconds', '?')} s, peak {first.get('peak_rss_mib', '?')} MiB{warm})"
            )
        else:
            figures = build(tool)
            print(
                f"e2e build: {tool.name} {tool.version} built in {figures['wall_seconds']} s,"
                f" peak {figures['peak_rss_mib']} MiB",
                flush=True,
            )
        if tool.pinned_version and tool.pinned_version != tool.version:
            print(f"e2e build:   differs from our pin {tool.pinned_version}: {tool.why_different}")
        elif tool.why_different:
            print(f"e2e build:   {tool.why_different}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
