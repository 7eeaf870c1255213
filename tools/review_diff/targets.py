"""Scrape targets added or changed: what Prometheus will scrape or probe, and which component brings it.

A Probe names the address probed, the module and the prober; when the prober is a
blackbox_exporter this change adds too, the report says so (that is why one appears).
"""

from __future__ import annotations

import re
from typing import Any, Optional

from tools.review_diff.model import Render, _comparable
from tools.review_diff.rules import Section, _trim, component
from tools.review_diff.text import code

MONITORING = "kubernetes:monitoring.coreos.com/v1:"
KINDS = ("Probe", "ScrapeConfig", "ServiceMonitor", "PodMonitor")
SERVICE_TYPE = "kubernetes:core/v1:Service"


def _selector(selector: Any) -> str:
    if not isinstance(selector, dict):
        return "all"
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    terms += [f"{e.get('key')} {e.get('operator', '').lower()} ({', '.join(map(str, e.get('values') or []))})"
              for e in selector.get("matchExpressions") or []]
    return ", ".join(terms) or "all"


def _namespaces(spec: dict) -> str:
    ns = spec.get("namespaceSelector") or {}
    if ns.get("any"):
        return "any namespace"
    names = ns.get("matchNames") or []
    return ("namespace " if len(names) == 1 else "namespaces ") + ", ".join(names) if names else "its own namespace"


def _endpoints(spec: dict, key: str) -> str:
    parts = []
    for ep in spec.get(key) or []:
        where = ep.get("port") or ep.get("targetPort") or "?"
        parts.append(f"port {code(where)} path {code(ep.get('path') or '/metrics')}" + (f" every {ep['interval']}" if ep.get("interval") else ""))
    return "; ".join(parts) or "no endpoints"


def _prober(head: Render, url: str) -> tuple[str, Optional[dict]]:
    """The prober URL and, when it is a Service of this render, that Service's entry."""
    host = re.sub(r"^[a-z]+://", "", url).split("/", 1)[0].split(":", 1)[0]
    name, _, rest = host.partition(".")
    namespace = rest.split(".", 1)[0] if rest else None
    for entry in head.of_type(SERVICE_TYPE).values():
        meta = (entry.get("inputs") or {}).get("metadata") or {}
        if meta.get("name", entry.get("name")) == name and (namespace is None or meta.get("namespace") == namespace):
            return url, entry
    return url, None


def describe(kind: str, spec: dict, head: Render, added_names: set[tuple[str, str]]) -> str:
    if kind == "Probe":
        targets = spec.get("targets") or {}
        static = (targets.get("staticConfig") or {}).get("static") or []
        ingress = targets.get("ingress")
        what = ", ".join(map(str, static)) if static else (f"Ingresses {_selector((ingress or {}).get('selector'))}" if ingress else "?")
        prober = spec.get("prober") or {}
        url = f"{prober.get('scheme', 'http')}://{prober.get('url', '?')}{prober.get('path', '/probe')}"
        _, service = _prober(head, str(prober.get("url", "")))
        text = f"probes {code(what)} with module {code(spec.get('module', '?'))}, every {spec.get('interval', 'default')}, through {code(url)}"
        if service is not None:
            how = "added in this change" if (SERVICE_TYPE, service["name"]) in added_names else "already deployed"
            text += f" (Service {code(service['name'])} of {component(service)}, {how})"
        return text
    if kind == "ScrapeConfig":
        targets = [t for sc in spec.get("staticConfigs") or [] for t in sc.get("targets") or []]
        sd = [k for k in spec if k.endswith("SDConfigs")]
        where = ", ".join(map(str, targets)) if targets else (", ".join(sd) or "?")
        return (f"scrapes {code(where)} at {code(spec.get('metricsPath', '/metrics'))} "
                f"({spec.get('scheme', 'HTTP')}, every {spec.get('scrapeInterval', 'default')})")
    endpoints = "podMetricsEndpoints" if kind == "PodMonitor" else "endpoints"
    objects = "pods" if kind == "PodMonitor" else "Services"
    return f"scrapes {objects} labelled {code(_selector(spec.get('selector')))} in {_namespaces(spec)}: {_endpoints(spec, endpoints)}"


def targets_section(base: Render, head: Render) -> Optional[Section]:
    a, b = base.resources, head.resources
    added_names = set(b) - set(a)
    rows = []
    for rid in sorted(set(b)):
        rtype, name = rid
        if not rtype.startswith(MONITORING) or rtype[len(MONITORING):] not in KINDS:
            continue
        if rid in a and _comparable(a[rid]) == _comparable(b[rid]):
            continue
        kind = rtype[len(MONITORING):]
        spec = (b[rid].get("inputs") or {}).get("spec") or {}
        if rid in a and spec == ((a[rid].get("inputs") or {}).get("spec") or {}):
            continue
        status = "added" if rid not in a else "changed"
        rows.append(f"- {status} {kind} {code(name)} ({component(b[rid])}): {describe(kind, spec, head, added_names)}")
    for rid in sorted(set(a) - set(b)):
        rtype, name = rid
        if rtype.startswith(MONITORING) and rtype[len(MONITORING):] in KINDS:
            rows.append(f"- removed {rtype[len(MONITORING):]} {code(name)} ({component(a[rid])})")
    return Section("Scrape targets", _trim(rows)) if rows else None
