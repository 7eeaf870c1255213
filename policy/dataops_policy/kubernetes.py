"""Kubernetes shapes the policies look at: resource kinds, pod specs, containers, images."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from .values import elements, get, items, join, reveal, text

# Pod-bearing kinds and where their pod spec sits.
_POD_SPEC_PATHS = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "PodTemplate": ("template", "spec"),
}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

HELM_RELEASE_TYPES = frozenset({"kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart"})
SECRET_TYPE = "kubernetes:core/v1:Secret"
CONFIG_MAP_TYPE = "kubernetes:core/v1:ConfigMap"
PROMETHEUS_RULE_TYPE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"


def kind_of(resource_type: str) -> Optional[str]:
    """``kubernetes:apps/v1:Deployment`` -> ``Deployment``; None for non-Kubernetes types."""
    if not resource_type.startswith("kubernetes:"):
        return None
    return resource_type.rsplit(":", 1)[-1]


def is_helm_release(resource_type: str) -> bool:
    return resource_type in HELM_RELEASE_TYPES


@dataclass(frozen=True)
class PodSpec:
    path: str  # where it sits in the inputs, e.g. "spec.template.spec"
    spec: Any


@dataclass(frozen=True)
class Container:
    path: str  # e.g. "spec.template.spec.containers[0]"
    name: str
    spec: Any


def pod_spec(resource_type: str, props: Any) -> Optional[PodSpec]:
    """The pod spec we define in a workload resource (Deployment, StatefulSet, Job, ...)."""
    kind = kind_of(resource_type)
    path = _POD_SPEC_PATHS.get(kind or "")
    if path is None:
        return None
    spec = get(props, *path)
    if spec is None:
        return None
    return PodSpec(".".join(path), spec)


def containers(pod: PodSpec) -> Iterator[Container]:
    for list_name in CONTAINER_LISTS:
        for index, container in enumerate(elements(get(pod.spec, list_name))):
            name = text(get(container, "name")) or f"#{index}"
            yield Container(f"{pod.path}.{list_name}[{index}]", name, reveal(container))


# --------------------------------------------------------------------------------------
# Image references
# --------------------------------------------------------------------------------------

_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_DOCKER_HUB_ALIASES = {"index.docker.io", "registry-1.docker.io", "registry.hub.docker.com", "docker.io"}


@dataclass(frozen=True)
class ImageRef:
    registry: str  # normalised host, docker.io for Docker Hub
    repository: str  # path below the registry
    tag: Optional[str]
    digest: Optional[str]

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"


def parse_image(reference: str) -> ImageRef:
    name, _, digest = reference.strip().partition("@")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = "docker.io", name
    if registry in _DOCKER_HUB_ALIASES:
        registry = "docker.io"
    tag = None
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, tag = path.rsplit(":", 1)
    return ImageRef(registry.lower(), path, tag, digest or None)


def tag_problem(tag: Optional[str], digest: Optional[str]) -> Optional[str]:
    """Why a tag/digest pair does not pin an image, or None when it does."""
    if digest:
        return None if _DIGEST_RE.match(digest) else f"digest {digest!r} is not sha256:<64 hex>"
    if tag is None or not tag.strip():
        return "has no tag (it would pull whatever 'latest' is)"
    if tag.strip().lower() == "latest":
        return "uses the floating tag 'latest'"
    if not re.search(r"\d", tag):
        return f"uses the tag {tag!r}, which is not a version (a version tag has a number, e.g. v0.42.4)"
    return None


def image_problem(reference: Any) -> Optional[str]:
    reference = text(reference)
    if reference is None or not reference.strip():
        return "has no image"
    ref = parse_image(reference)
    return tag_problem(ref.tag, ref.digest)


@dataclass(frozen=True)
class ValuesImage:
    """An image set in Helm values: a string ``image: repo:tag`` or a map {registry, repository, tag, digest}."""

    path: str
    reference: Optional[ImageRef]  # None when the map overrides no repository (chart's own image)
    problem: Optional[str]


def _is_image_key(key: str) -> bool:
    return key == "image" or key.endswith("Image") or key.endswith("_image")


def values_images(values: Any, path: str = "values") -> Iterator[ValuesImage]:
    """Every image a Helm values tree sets (``image:`` fields at any depth)."""
    for key, value in items(values):
        here = join(path, key)
        value = reveal(value)
        if _is_image_key(key):
            reference = text(value)
            if reference is not None:
                yield ValuesImage(here, parse_image(reference) if reference.strip() else None, image_problem(reference))
                continue
            if get(value, "repository") is not None or get(value, "tag") is not None or get(value, "digest") is not None:
                yield _values_image_map(here, value)
                continue
        yield from values_images(value, here)
        for index, element in enumerate(elements(value)):
            yield from values_images(element, join(here, index))


def _values_image_map(path: str, value: Any) -> ValuesImage:
    repository = text(get(value, "repository")) or ""
    registry = text(get(value, "registry")) or ""
    tag = get(value, "tag")
    tag = str(tag) if tag is not None and not isinstance(tag, str) else tag
    digest = text(get(value, "digest")) or text(get(value, "sha")) or None
    if digest and not digest.startswith("sha256:"):
        digest = f"sha256:{digest}"
    reference = None
    if repository:
        reference = parse_image(f"{registry}/{repository}" if registry else repository)
        if reference.tag and tag is None and not digest:
            tag = reference.tag
    if not repository and tag is None and not digest:
        return ValuesImage(path, None, None)
    problem = tag_problem(tag, digest)
    if problem and not repository and (tag is None or tag == ""):
        problem = None  # nothing overridden: the chart's own image at its appVersion
    return ValuesImage(path, reference, problem)
