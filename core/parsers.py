"""Value parsers for settings: each returns the parsed value or raises ValueError with a
short reason (the Reader turns it into a problem naming the key and the fix)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

# --------------------------------------------------------------------------------------
# Value parsers. Each returns the parsed value or raises ValueError with a short reason.
# --------------------------------------------------------------------------------------

_DURATION_RE = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_DURATION_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


def parse_duration(text: str) -> float:
    """Prometheus duration (``15d``, ``1h30m``, ``30s``) to seconds."""
    match = _DURATION_RE.match(text or "") if isinstance(text, str) else None
    if not text or not match or not any(match.groups()):
        raise ValueError("not a duration (use Prometheus units, e.g. 30s, 5m, 12h, 15d, 1y)")
    seconds = sum(int(g) * unit for g, unit in zip(match.groups(), _DURATION_UNITS) if g)
    if seconds <= 0:
        raise ValueError("duration must be greater than zero")
    return seconds


_QUANTITY_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_QUANTITY_FACTORS = {
    None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}


def parse_quantity(text: str) -> float:
    """Kubernetes resource quantity (``2000m``, ``2``, ``8Gi``, ``50G``) to a number."""
    match = _QUANTITY_RE.match(text or "") if isinstance(text, str) else None
    if not match:
        raise ValueError("not a Kubernetes quantity (e.g. 500m or 2 for CPU, 8Gi or 512Mi for memory)")
    value = float(match.group(1)) * _QUANTITY_FACTORS[match.group(2)]
    if value <= 0:
        raise ValueError("quantity must be greater than zero")
    return value


def parse_byte_quantity(text: str) -> float:
    """A quantity of bytes: a milli suffix (``50m``) is almost always a typo for ``50Mi``."""
    value = parse_quantity(text)
    if text.endswith("m"):
        raise ValueError("'m' means milli-bytes here; use Mi or Gi (e.g. 512Mi, 50Gi)")
    return value


DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def parse_dns_label(text: str) -> str:
    if not isinstance(text, str) or not DNS_LABEL_RE.match(text) or len(text) > 63:
        raise ValueError("must be a DNS-1123 label: lower-case letters, digits and '-', at most 63 characters")
    return text


def parse_ratio(text: Any) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError("not a number") from None
    if not 0 < value < 1:
        raise ValueError("must be a ratio strictly between 0 and 1 (e.g. 0.999)")
    return value


def parse_int(text: Any, minimum: int = 0) -> int:
    if isinstance(text, bool):
        raise ValueError("not an integer")
    try:
        value = int(str(text), 10)
    except ValueError:
        raise ValueError("not an integer") from None
    if value < minimum:
        raise ValueError(f"must be at least {minimum}")
    return value


def parse_bool(text: Any) -> bool:
    if isinstance(text, bool):
        return text
    if str(text).lower() in ("true", "false"):
        return str(text).lower() == "true"
    raise ValueError("not a boolean (true or false)")


def parse_string_list(text: Any) -> tuple[str, ...]:
    try:
        value = json.loads(text) if isinstance(text, str) else text
    except json.JSONDecodeError:
        raise ValueError("not a list (set items with --path, see the fix)") from None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("must be a list of non-empty strings")
    return tuple(value)


def cidr(value: Any) -> str:
    """An IPv4/IPv6 network in CIDR notation with no host bits set (what a NetworkPolicy ipBlock takes)."""
    import ipaddress

    if not isinstance(value, str) or "/" not in value:
        raise ValueError("must be a CIDR like 10.0.0.0/8 (address/prefix length)")
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as err:
        raise ValueError(f"not a CIDR with the host bits zero ({err}); e.g. 10.20.0.0/16") from None
    return str(network)


def one_of(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError("must be one of " + ", ".join(repr(c) for c in choices))
        return text

    return parse


def int_at_least(minimum: int) -> Callable[[Any], int]:
    return lambda value: parse_int(value, minimum)


def exact_semver(major: int) -> Callable[[str], str]:
    def parse(text: str) -> str:
        match = re.match(r"^(\d+)\.(\d+)\.(\d+)$", text or "") if isinstance(text, str) else None
        if not match:
            raise ValueError("must be an exact chart version like 88.5.3 (no ranges: previews must be reproducible)")
        if int(match.group(1)) < major:
            raise ValueError(f"must be {major}.0.0 or newer")
        return text

    return parse


def image_ref(text: str) -> str:
    # A version tag, a digest, or the commit a build tagged it with (Jenkins tags the exporter
    # image with the full commit SHA; one that starts with a letter was refused until the e2e
    # ran the Jenkinsfile's own steps).
    pattern = r"^[a-z0-9][a-z0-9._/-]*(:[0-9][A-Za-z0-9._-]*|:v[0-9][A-Za-z0-9._-]*|:[0-9a-f]{7,40}|@sha256:[a-f0-9]{64})$"
    if not isinstance(text, str) or not re.match(pattern, text):
        raise ValueError("must be an image reference pinned to a version tag or digest (e.g. quay.io/thanos/thanos:v0.42.4)")
    return text


def keep_text(parse: Callable[[str], Any]) -> Callable[[Any], str]:
    """Validate with ``parse`` but keep the user's spelling (``15d`` stays ``15d`` in values)."""

    def validate(text: Any) -> str:
        if not isinstance(text, str):
            raise ValueError("must be a string")
        parse(text)
        return text

    return validate


duration = keep_text(parse_duration)
quantity = keep_text(parse_quantity)
byte_quantity = keep_text(parse_byte_quantity)


class Bounded:
    """A parser with documented bounds: ``bounds`` is shown in the README settings table."""

    def __init__(self, parse: Callable[[Any], Any], measure: Callable[[Any], float], low: str, high: str, why: str = ""):
        self.parse, self.measure, self.low, self.high, self.why = parse, measure, low, high, why
        self.bounds = f"{low} .. {high}"

    def __call__(self, value: Any) -> Any:
        parsed = self.parse(value)
        amount = self.measure(parsed)
        if not self.measure(self.low) <= amount <= self.measure(self.high):
            why = f" ({self.why})" if self.why else ""
            raise ValueError(f"must be between {self.low} and {self.high}{why}")
        return parsed


def int_between(low: int, high: int, why: str = "") -> Bounded:
    return Bounded(int_at_least(-(2**63)), int, str(low), str(high), why)


def duration_between(low: str, high: str, why: str = "") -> Bounded:
    return Bounded(duration, parse_duration, low, high, why)


def quantity_between(low: str, high: str, why: str = "") -> Bounded:
    return Bounded(quantity, parse_quantity, low, high, why)


def byte_quantity_between(low: str, high: str, why: str = "") -> Bounded:
    return Bounded(byte_quantity, parse_quantity, low, high, why)


def http_url(text: Any) -> str:
    if not isinstance(text, str) or not re.match(r"^https?://[^\s/]+(/[^\s]*)?$", text) or text.endswith("/"):
        raise ValueError("must be an http(s) URL without a trailing slash (e.g. https://grafana.example.com)")
    return text


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def non_empty(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must not be empty")
    if value != value.strip():
        raise ValueError("must not start or end with spaces")
    return value


# --------------------------------------------------------------------------------------
# Formats: URLs, hosts, names. Each rejects what the consumer (Kubernetes, Alertmanager,
# Thanos, the exporters) would reject or silently misread at deploy time.
# --------------------------------------------------------------------------------------

_HOST = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
_HOST_PORT_RE = re.compile(rf"^(?P<host>{_HOST}|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{{1,5}}))?$")


def _check_port(port: Optional[str]) -> None:
    if port is not None and not 1 <= int(port) <= 65535:
        raise ValueError("port must be between 1 and 65535")


def url(*schemes: str, example: str = "https://portal.example.com/healthz") -> Callable[[Any], str]:
    """A URL with one of ``schemes``, a host and an optional port and path (no spaces)."""
    pattern = re.compile(rf"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?:[^\s/@]+@)?(?P<host>{_HOST}|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{{1,5}}))?(?:[/?#]\S*)?$")

    def parse(value: Any) -> str:
        match = pattern.match(value) if isinstance(value, str) else None
        if not match or match.group("scheme") not in schemes:
            raise ValueError(f"must be a {' or '.join(s + '://' for s in schemes)} URL with a host (e.g. {example})")
        _check_port(match.group("port"))
        return value

    return parse


def chart_location(value: Any) -> str:
    """Where a Helm chart comes from instead of its repository: an OCI reference to the chart
    itself (oci://registry/path/chart) or a local chart (a .tgz file or a chart directory)."""
    example = "oci://registry.example.com/charts/kube-prometheus-stack or ./charts/kube-prometheus-stack-88.5.3.tgz"
    if not isinstance(value, str) or not value or value != value.strip() or any(c.isspace() for c in value):
        raise ValueError(f"must be an oci:// chart reference or a local chart path without spaces (e.g. {example})")
    if "://" in value:
        url("oci", example=example)(value)
        if value.rstrip("/").count("/") < 3:
            raise ValueError(f"an OCI reference names the chart itself, not only the registry (e.g. {example})")
    return value


def host_port(require_port: bool = False, example: str = "minio.storage.svc:9000") -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        match = _HOST_PORT_RE.match(value) if isinstance(value, str) else None
        if not match or (require_port and match.group("port") is None):
            raise ValueError(f"must be host{':port' if require_port else '[:port]'} without a scheme or path (e.g. {example})")
        _check_port(match.group("port"))
        return value

    return parse


def url_port(value: str) -> Optional[int]:
    """The TCP port a URL (``scheme://host[:port]/...``) connects to, or None when it has no network port."""
    match = re.match(r"^([a-z][a-z0-9+.-]*)://(?:[^\s/@]+@)?(\[[^\]]+\]|[^\s/:?#]*)(?::([0-9]+))?", value or "")
    if not match or not match.group(2):
        return None
    if match.group(3):
        return int(match.group(3))
    scheme = match.group(1).split("+", 1)[0]
    return {"http": 80, "https": 443, "thrift": 9083, "postgresql": 5432, "postgres": 5432, "mysql": 3306}.get(scheme)


def pattern(regex: str, reason: str) -> Callable[[Any], str]:
    compiled = re.compile(regex)

    def parse(value: Any) -> str:
        if not isinstance(value, str) or not compiled.match(value):
            raise ValueError(reason)
        return value

    return parse


# A user name that survives HTTP basic auth and Grafana's login form: no spaces, no ':'.
user_name = pattern(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$", "must be 1-64 characters: letters, digits and . _ @ + - (no spaces or ':')")
slack_channel = pattern(r"^#[a-z0-9][a-z0-9._-]{0,79}$", "must be a Slack channel like #dataops-ops: '#', then lower-case letters, digits, '.', '_' or '-' (at most 80)")
# S3-compatible stores differ in length rules (Ceph RGW relaxes them); all refuse spaces, '/', upper case and URLs.
s3_bucket = pattern(r"^[a-z0-9][a-z0-9._-]{0,62}$", "must be a bucket name (no s3:// or path): lower-case letters, digits, '.', '_' and '-', at most 63")
s3_region = pattern(r"^[a-z0-9][a-z0-9-]{0,31}$", "must be a region name like us-east-1 (lower-case letters, digits and '-')")


@dataclass(frozen=True)
class ScrapeUrl:
    """A metrics URL split the way a Prometheus scrape config spells it."""

    scheme: str  # HTTP | HTTPS (ScrapeConfig enum)
    target: str  # host:port
    path: str

    @property
    def url(self) -> str:
        return f"{self.scheme.lower()}://{self.target}{self.path}"


def scrape_url(value: Any, default_path: str = "/metrics") -> ScrapeUrl:
    """An http(s) URL with an explicit host, no credentials, query or fragment."""
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+(/[^\s]*)?$", value):
        raise ValueError("must be an http(s) URL, e.g. http://gostats.example.com:9090/metrics")
    parts = urlsplit(value)
    if parts.username or parts.password:
        raise ValueError("must not contain credentials (set them in their own settings)")
    if parts.query or parts.fragment:
        raise ValueError("must not contain a query string or fragment")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    if not parts.hostname:
        raise ValueError("has no host")
    default_port = 443 if parts.scheme == "https" else 80
    host = parts.netloc if port else f"{parts.netloc}:{default_port}"
    return ScrapeUrl(scheme=parts.scheme.upper(), target=host, path=parts.path or default_path)
