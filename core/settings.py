"""The settings reader every domain uses: keys, parsers, fix hints, all problems at once.

A domain declares its keys as ``Setting`` values and reads them through a ``Reader``;
the reader never raises for a user's mistake, it collects a problem naming the key, the
bad value and a ``pulumi config`` command that fixes it. ``settings.load_settings()``
raises one ``SettingsError`` with every problem of every domain.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

import pulumi
from pulumi.runtime import config as runtime_config

PROJECT = "dataops-monitoring"

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
    pattern = r"^[a-z0-9][a-z0-9._/-]*(:[0-9][A-Za-z0-9._-]*|:v[0-9][A-Za-z0-9._-]*|@sha256:[a-f0-9]{64})$"
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


# --------------------------------------------------------------------------------------
# Schema and fix hints
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One config key: how it is typed in Pulumi.yaml, parsed and documented."""

    key: str
    pulumi_type: str  # string | integer | boolean | array | object (object: not declarable in Pulumi.yaml)
    description: str
    parse: Callable[[Any], Any] = text
    default: Any = None  # None: required (or optional when ``optional``)
    example: str = ""  # value shown in the fix command
    optional: bool = False
    secret: bool = False
    bounds: str = ""  # documented range of a numeric setting, e.g. "1 .. 10" (README table)


def setting(key, pulumi_type, description, parse=text, default=None, example="", optional=False, secret=False) -> Setting:
    """A Setting whose fix example defaults to its default value; a ``Bounded`` parser gives its bounds."""
    example = example or (str(default) if default not in (None, "", ()) else "")
    return Setting(key, pulumi_type, description, parse, default, example, optional, secret, getattr(parse, "bounds", ""))


def _quote(value: str) -> str:
    return f"'{value}'" if any(c in value for c in " []{}\"$#*<>|&;()") else value


def fix_command(setting: Setting, value: str = "") -> str:
    """The ``pulumi config set`` command that sets ``setting``; lists are set item by item with --path."""
    flag = "--secret " if setting.secret else ""
    if setting.pulumi_type == "array":
        example = value or setting.example or "<value>"
        try:
            items = json.loads(example) if example.startswith("[") else [example]
        except json.JSONDecodeError:
            items = [example]
        return " && ".join(
            f"pulumi config set {flag}--path '{PROJECT}:{setting.key}[{i}]' {_quote(str(item))}" for i, item in enumerate(items or ["<value>"])
        )
    return f"pulumi config set {flag}{PROJECT}:{setting.key} {_quote(value or setting.example or '<value>')}"


class SettingsError(pulumi.RunError):
    """Every configuration problem at once; RunError makes Pulumi print it without a stack trace."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        noun = "problem" if len(problems) == 1 else "problems"
        lines = [f"Invalid stack configuration ({len(problems)} {noun}):"]
        lines += [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------


class Reader:
    """Reads raw values of the declared keys and collects problems instead of raising."""

    def __init__(self, schema: Iterable[Setting], config: Optional[pulumi.Config] = None, environment: str = ""):
        self.schema = {s.key: s for s in schema}
        self.config = config or pulumi.Config(PROJECT)
        self.problems: list[str] = []
        self._plain_reported: set[str] = set()
        self.environment = environment
        # Defaults of an environment profile (dev: small footprint) replace the schema's.
        self.profile: dict[str, Any] = {}

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    def problem(self, message: str) -> None:
        self.problems.append(message)

    def fix(self, key: str, value: str = "") -> str:
        return fix_command(self.schema[key], value)

    def raw(self, key: str) -> Any:
        value = runtime_config.get_config(f"{PROJECT}:{key}")
        # The CLI passes Pulumi.yaml's declared defaults; "" is how an optional key is declared unset.
        if value == "" and self.schema[key].optional:
            return None
        return value

    def get(self, key: str) -> Any:
        setting = self.schema[key]
        raw = self.raw(key)
        if raw is None:
            default = self.profile.get(key, setting.default)
            if default is None and not setting.optional:
                self.problem(f"{PROJECT}:{key} is not set: {setting.description} Fix: {fix_command(setting)}")
            return default
        if setting.pulumi_type in ("array", "object") and isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError:
                self.problem(f"{PROJECT}:{key} = {raw!r}: not valid JSON for a {setting.pulumi_type}. Fix: {fix_command(setting)}")
                return setting.default
        try:
            return setting.parse(raw)
        except ValueError as err:
            self.problem(f"{PROJECT}:{key} = {raw!r}: {err}. Fix: {fix_command(setting)}")
            return setting.default

    def peek(self, key: str) -> Any:
        """The parsed value of ``key`` when it is valid (or defaulted), else None; records no problem."""
        raw = self.raw(key)
        if raw is None:
            return self.schema[key].default
        try:
            if self.schema[key].pulumi_type in ("array", "object") and isinstance(raw, str):
                raw = json.loads(raw)
            return self.schema[key].parse(raw)
        except (ValueError, json.JSONDecodeError):
            return None

    def text(self, key: str) -> str:
        raw = self.raw(key)
        return str(raw if raw is not None else self.schema[key].default)

    def seconds(self, key: str) -> Optional[float]:
        """Seconds of a duration setting, or None when it is invalid or out of bounds (already reported)."""
        if self.peek(key) is None:
            return None
        try:
            return parse_duration(self.text(key))
        except ValueError:
            return None

    def secret(self, key: str, required: bool, why: str = "") -> Optional[pulumi.Output]:
        """A secret setting as an Output; the setting's parser checks the value, and its problems never echo it."""
        setting = self.schema[key]
        full = f"{PROJECT}:{key}"
        raw = self.raw(key)
        if raw is None:
            if required:
                self.problem(f"{full} is not set ({why}): {setting.description} Fix: {fix_command(setting)}")
            return None
        if not runtime_config.is_config_secret(full):
            if key not in self._plain_reported:  # check_unknown_keys may have reported it already
                # Never echo the value: it is a credential stored in plain text.
                self.problem(f"{full} is stored in plain text. Fix: pulumi config rm {full} && {fix_command(setting)}")
        else:
            try:
                setting.parse(raw)
            except ValueError as err:
                self.problem(f"{full} = [secret, not shown]: {err}. Fix: {fix_command(setting)}")
        return self.config.get_secret(key)

    def items(self, key: str, parse: Callable[[str], Any], example: str) -> tuple:
        """A list setting whose items are each checked by ``parse``; a repeated item is a problem too."""
        values = tuple(self.get(key) or ())
        seen: set = set()
        for index, item in enumerate(values):
            fix = f"pulumi config set --path '{PROJECT}:{key}[{index}]' {_quote(example)}"
            try:
                parse(item)
            except ValueError as err:
                self.problem(f"{PROJECT}:{key}[{index}] = {item!r}: {err}. Fix: {fix}")
                continue
            if item in seen:
                self.problem(f"{PROJECT}:{key}[{index}] = {item!r}: listed twice. Fix: pulumi config rm --path '{PROJECT}:{key}[{index}]'")
            seen.add(item)
        return values

    def duration_at_least(self, key: str, minimum_key_or_seconds: Any, why: str, fix_value: str) -> None:
        """Problem when duration ``key`` is shorter than another duration setting (or a number of seconds)."""
        value = self.seconds(key)
        if isinstance(minimum_key_or_seconds, str):
            minimum, what = self.seconds(minimum_key_or_seconds), f"{PROJECT}:{minimum_key_or_seconds} = {self.text(minimum_key_or_seconds)!r}"
        else:
            minimum, what = float(minimum_key_or_seconds), ""
        if value is None or minimum is None or value >= minimum:
            return
        against = f" (shorter than {what})" if what else ""
        self.problem(f"{PROJECT}:{key} = {self.text(key)!r}{against}: {why}. Fix: {self.fix(key, fix_value)}")

    def check_unknown_keys(self) -> None:
        known = set(self.schema)
        keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
        for full in sorted(keys):
            if not full.startswith(PROJECT + ":"):
                self._check_foreign_key(full, known)
                continue
            key = full.split(":", 1)[1]
            if key in known:
                if self.schema[key].secret:
                    self._check_secret_marker(key)
                continue
            guess = difflib.get_close_matches(key, known, n=1)
            hint = f" Did you mean {PROJECT}:{guess[0]}?" if guess else ""
            self.problem(f"{full} is not a known setting.{hint} Fix: pulumi config rm {full}")

    def _check_secret_marker(self, key: str) -> None:
        """A declared secret set without --secret is a problem even where no domain reads it
        (a feature turned off): the credential sits in the stack file in plain text either way."""
        full = f"{PROJECT}:{key}"
        if self.raw(key) is not None and not runtime_config.is_config_secret(full):
            self._plain_reported.add(key)
            # Never echo the value: it is a credential stored in plain text.
            self.problem(f"{full} is stored in plain text. Fix: pulumi config rm {full} && {fix_command(self.schema[key])}")

    def _check_foreign_key(self, full: str, known: set[str]) -> None:
        """A key outside our namespace: fine for a provider we use, else a misspelt or missing project prefix.

        The CLI passes every key of the stack file to the program; one under a misspelt
        project name (``dataops-monitorng:namespace``) would otherwise be ignored in silence.
        """
        namespace, _, key = full.partition(":")
        if namespace in PROVIDER_NAMESPACES and key:
            return
        if not key:
            self.problem(f"{full!r} has no project prefix, so the program never reads it. Fix: pulumi config rm {full!r} && pulumi config set {PROJECT}:<key> <value>")
            return
        target = key if key in known else (difflib.get_close_matches(key, known, n=1) or [key])[0]
        if target in known:
            hint = f"{PROJECT}:{target}"
            self.problem(
                f"{full} is under {namespace!r}, not {PROJECT!r}: the program never reads it. "
                f"Fix: pulumi config rm {full} && pulumi config set {hint} <value>"
            )
        else:
            self.problem(f"{full} belongs to no package this program uses ({PROJECT}, {', '.join(sorted(PROVIDER_NAMESPACES))}). Fix: pulumi config rm {full}")


# Config namespaces of the providers the program uses (their keys configure the provider, not us).
PROVIDER_NAMESPACES = frozenset({"kubernetes", "random", "pulumi"})
