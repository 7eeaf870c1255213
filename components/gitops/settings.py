"""Settings of the GitOps layer (Bitbucket -> Jenkins -> Argo CD)."""

from __future__ import annotations

from dataclasses import dataclass

from core.parsers import parse_bool, parse_dns_label

from core.settings import Reader, setting

SETTINGS = (
    setting("gitopsEnabled", "boolean", "Scrape Argo CD and Jenkins and load the GitOps recording rules and alerts.", parse_bool, True),
    setting("argocdNamespace", "string", "Namespace where Argo CD runs (application controller, API server, repo server).", parse_dns_label, "argocd"),
    setting("jenkinsNamespace", "string", "Namespace where the Jenkins controller runs (Prometheus metrics plugin at /prometheus).", parse_dns_label, "jenkins"),
)


@dataclass(frozen=True)
class GitOpsSettings:
    enabled: bool
    argocd_namespace: str
    jenkins_namespace: str


def read(reader: Reader) -> GitOpsSettings:
    return GitOpsSettings(enabled=bool(reader.get("gitopsEnabled")), argocd_namespace=reader.get("argocdNamespace"), jenkins_namespace=reader.get("jenkinsNamespace"))
