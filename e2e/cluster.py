"""A local Kubernetes control plane without containers: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and kwok (one fake Node), all on 127.0.0.1.

Nothing here dials an address other than 127.0.0.1:
- the API server has no admission webhooks (both webhook admission plugins are off) and no
  aggregated API is ever registered; there is no kube-proxy and no kubelet;
- the Service range is a loopback range; kwok's pod IPs come from 198.18.0.0/16 (RFC 2544,
  routed nowhere; EndpointSlices refuse loopback) and nothing connects to them;
- the controller manager runs without the cloud, node-IPAM and node-lifecycle controllers.
Certificates, the service-account key and the kubeconfig are made per run (openssl).
PersistentVolumes are static (hostPath, never mounted: kwok runs no container), one
StorageClass per name the stack asks for, with no provisioner.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from e2e.build import module_file
from e2e.kube import Kube, wait_for
from e2e.paths import REPO_ROOT
from e2e.processes import ProcessGroup

# kwok's pod IPs: EndpointSlices refuse loopback addresses, so they come from the RFC 2544
# benchmarking range, which no network routes; nothing here connects to a pod IP (no kubelet,
# no kube-proxy, no port-forward): they are only data in pod status and EndpointSlices.
POD_CIDR = "198.18.0.0/16"
SERVICE_CIDR = "127.96.0.0/16"  # ClusterIPs: loopback too
FIRST_SERVICE_IP = "127.96.0.1"
# Three fake Nodes: prod's hard anti-affinity puts each Alertmanager replica on its own Node.
NODE_NAMES = ("kwok-node-0", "kwok-node-1", "kwok-node-2")
CONTEXT = "dataops-e2e"
# The binaries LocalCluster runs (e2e/build.py builds them).
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
KWOK_MODULE = "sigs.k8s.io/kwok@v0.8.0"
# kwok's own "fast" stages: a Node becomes Ready, pods Running/Ready at once, Job pods
# complete, deleted pods go away.
KWOK_STAGES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(pki: Path) -> None:
    """A CA, the API server's serving certificate, an admin client certificate
    (system:masters) and the service-account signing key."""
    pki.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=dataops-e2e-ca", cwd=pki)
    sans = f"subjectAltName=IP:127.0.0.1,IP:{FIRST_SERVICE_IP},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
    for name, subject, extension in (
        ("apiserver", "/CN=kube-apiserver", sans),
        ("admin", "/O=system:masters/CN=dataops-e2e-admin", "extendedKeyUsage=clientAuth"),
    ):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=pki)
        (pki / f"{name}.ext").write_text(extension + "\n")
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext", cwd=pki,
        )
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)


def write_kubeconfig(path: Path, pki: Path, port: int) -> None:
    path.write_text(
        f"""apiVersion: v1
kind: Config
clusters:
- name: {CONTEXT}
  cluster:
    server: https://127.0.0.1:{port}
    certificate-authority: {pki / 'ca.crt'}
users:
- name: {CONTEXT}-admin
  user:
    client-certificate: {pki / 'admin.crt'}
    client-key: {pki / 'admin.key'}
contexts:
- name: {CONTEXT}
  context:
    cluster: {CONTEXT}
    user: {CONTEXT}-admin
current-context: {CONTEXT}
"""
    )


@dataclass
class LocalCluster:
    run_dir: Path
    binaries: dict[str, Path]
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.processes = ProcessGroup(self.run_dir)
        self.pki = self.run_dir / "pki"
        self.kubeconfig = self.run_dir / "kubeconfig"

    @property
    def kube(self) -> Kube:
        return Kube(self.api_port, self.pki / "ca.crt", self.pki / "admin.crt", self.pki / "admin.key")

    def clean_leftovers(self) -> list[str]:
        """Stop what a killed earlier run left behind (by its recorded PIDs) and wipe its folder."""
        stopped = self.processes.stop_all() if self.run_dir.exists() else []
        shutil.rmtree(self.run_dir, ignore_errors=True)
        return stopped

    def start(self) -> None:
        started = time.monotonic()
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        make_certificates(self.pki)
        self.api_port = free_port()
        etcd_client, etcd_peer = free_port(), free_port()
        write_kubeconfig(self.kubeconfig, self.pki, self.api_port)
        (self.run_dir / "api-port").write_text(str(self.api_port))
        self.processes.start("etcd", [
            str(self.binaries["etcd"]),
            f"--data-dir={self.run_dir / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{etcd_client}",
            f"--advertise-client-urls=http://127.0.0.1:{etcd_client}",
            f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-cluster=default=http://127.0.0.1:{etcd_peer}",
            "--listen-metrics-urls=",
            "--log-level=warn",
        ])
        pki = self.pki
        self.processes.start("kube-apiserver", [
            str(self.binaries["kube-apiserver"]),
            f"--etcd-servers=http://127.0.0.1:{etcd_client}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            # The endpoint reconciler refuses a loopback address; no client here needs the
            # in-cluster `kubernetes` Service's endpoints (everything dials 127.0.0.1 directly).
            "--endpoint-reconciler-type=none",
            f"--secure-port={self.api_port}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--service-account-issuer=https://127.0.0.1:{self.api_port}",
            "--authorization-mode=RBAC",
            # No admission webhook can make the API server call out.
            # ... and no not-ready taint on the fake Nodes: the node-lifecycle controller that would
            # lift it is off (kwok, not a kubelet, keeps them Ready).
            "--disable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook,TaintNodesByCondition",
            "--allow-privileged=true",
            "--profiling=false",
            "--v=1",
        ])
        wait_for(lambda: self._alive() and self.kube.healthy(), 120, "kube-apiserver /readyz")
        self.timings["apiserver_ready_seconds"] = round(time.monotonic() - started, 1)
        common = [f"--kubeconfig={self.kubeconfig}", "--leader-elect=false", "--bind-address=127.0.0.1", "--v=1"]
        self.processes.start("kube-controller-manager", [
            str(self.binaries["kube-controller-manager"]),
            *common,
            f"--secure-port={free_port()}",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            "--use-service-account-credentials=false",
            # No cloud, no node IPAM, no node lifecycle (kwok keeps its Node Ready).
            "--controllers=*,-nodeipam,-nodelifecycle",
        ])
        self.processes.start("kube-scheduler", [str(self.binaries["kube-scheduler"]), *common, f"--secure-port={free_port()}"])
        stages = self.run_dir / "kwok-stages.yaml"
        stages.write_text("\n---\n".join(module_file(KWOK_MODULE, path).read_text() for path in KWOK_STAGES))
        self.processes.start("kwok", [
            str(self.binaries["kwok"]),
            f"--config={stages}",
            f"--kubeconfig={self.kubeconfig}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            f"--cidr={POD_CIDR}",
            "--node-ip=127.0.0.1",
            f"--server-address=127.0.0.1:{free_port()}",
        ])
        for node in NODE_NAMES:
            self._create_node(node)
        wait_for(lambda: self._alive() and all(self._node_ready(node) for node in NODE_NAMES), 60, "the Nodes Ready (kwok)")
        wait_for(lambda: self.kube.exists("/api/v1/namespaces/default/serviceaccounts/default"), 60, "the default ServiceAccount (controller manager)")
        self.timings["control_plane_start_seconds"] = round(time.monotonic() - started, 1)

    def _alive(self) -> bool:
        """False once a started server has exited: fail now, with its log, not at a timeout."""
        crashed = self.processes.check_running()
        if crashed:
            name = crashed[0]
            tail = (self.run_dir / "logs" / f"{name}.log").read_text(errors="replace").splitlines()[-15:]
            raise RuntimeError(f"{name} exited; the end of its log:\n" + "\n".join(tail))
        return True

    def _create_node(self, name: str) -> None:
        self.kube.create("/api/v1/nodes", {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok"},
            },
            "spec": {},
            "status": {
                # Room for every pod and request of the prod stack.
                "allocatable": {"cpu": "256", "memory": "2Ti", "pods": "1000", "ephemeral-storage": "10Ti"},
                "capacity": {"cpu": "256", "memory": "2Ti", "pods": "1000", "ephemeral-storage": "10Ti"},
            },
        })

    def _node_ready(self, name: str) -> bool:
        node = self.kube.get(f"/api/v1/nodes/{name}")
        return any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions", []))

    def add_storage(self, storage_classes: set[str], volumes_per_class: int = 40) -> None:
        """A StorageClass with no provisioner per name, and static PersistentVolumes for it:
        hostPath folders in the run dir that nothing ever mounts (kwok runs no container)."""
        for name in sorted(storage_classes):
            self.kube.create("/apis/storage.k8s.io/v1/storageclasses", {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {"name": name},
                "provisioner": "kubernetes.io/no-provisioner",
                "volumeBindingMode": "Immediate",
                "reclaimPolicy": "Delete",
            })
            for index in range(volumes_per_class):
                self.kube.create("/api/v1/persistentvolumes", {
                    "apiVersion": "v1",
                    "kind": "PersistentVolume",
                    "metadata": {"name": f"e2e-{name}-{index:02d}", "labels": {"dataops.e2e/static": "true"}},
                    "spec": {
                        "capacity": {"storage": "100Ti"},
                        "accessModes": ["ReadWriteOnce"],
                        "persistentVolumeReclaimPolicy": "Retain",  # no deleter exists here; each run has new PVs
                        "storageClassName": name,
                        "hostPath": {"path": str(self.run_dir / "volumes" / f"{name}-{index:02d}")},
                    },
                })

    def start_operator(self, binary: Path) -> int:
        """The real prometheus-operator as a local process against this API server; returns the
        port of its /metrics (127.0.0.1). It reconciles every namespace, like the chart's."""
        port = free_port()
        # Started once the chart's CRDs exist and restarted when it exits, as its pod would be
        # (e2e/operator_process.py says why).
        self.processes.start("prometheus-operator", [
            sys.executable, "-m", "e2e.operator_process", str(self.run_dir), str(self.api_port), "--",
            str(binary),
            f"--apiserver=https://127.0.0.1:{self.api_port}",
            f"--ca-file={self.pki / 'ca.crt'}",
            f"--cert-file={self.pki / 'admin.crt'}",
            f"--key-file={self.pki / 'admin.key'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log-level=info",
            "--log-format=logfmt",
        ], cwd=REPO_ROOT)
        self.operator_port = port
        return port

    def stop(self) -> list[str]:
        return self.processes.stop_all()

    def crashed(self) -> list[str]:
        return self.processes.check_running()

