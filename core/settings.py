"""The settings reader every domain uses: keys, parsers, fix hints, all problems at once.

A domain declares its keys as ``Setting`` values and reads them through a ``Reader``;
the reader never raises for a user's mistake, it collects a problem naming the key, the
bad value and a ``pulumi config`` command that fixes it. ``settings.load_settings()``
raises one ``SettingsError`` with every problem of every domain.
"""

from __future__ import annotations

import dataclasses

import difflib
import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

import pulumi
from pulumi.runtime import config as runtime_config

from core.parsers import parse_duration, text

PROJECT = "dataops-monitoring"

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
    # The offline render fills a missing secret with a placeholder to show where it goes; not
    # a secret whose absence chooses another way (grafanaAdminPassword unset: generated).
    render_placeholder: bool = True
    # ... nor when this other key is set (thanosAccessKey: not with thanosServiceAccountAnnotations).
    placeholder_unless: str = ""


def setting(key, pulumi_type, description, parse=text, default=None, example="", optional=False, secret=False, render_placeholder=True, placeholder_unless="") -> Setting:
    """A Setting whose fix example defaults to its default value; a ``Bounded`` parser gives its bounds."""
    example = example or (str(default) if default not in (None, "", ()) else "")
    return Setting(key, pulumi_type, description, parse, default, example, optional, secret, getattr(parse, "bounds", ""), render_placeholder, placeholder_unless)


def _quote(value: str) -> str:
    return f"'{value}'" if any(c in value for c in " []{}\"$#*<>|&;()") else value


def fix_command(setting: Setting, value: str = "", stack: str = "") -> str:
    """The ``pulumi config set`` command that sets ``setting``; lists are set item by item with --path.

    An example naming ``{stack}`` gets the stack's own name (``dataops-{stack}`` -> ``dataops-qa``):
    a fix never suggests another environment's values.
    """
    flag = "--secret " if setting.secret else ""
    if "{stack}" in setting.example:
        setting = dataclasses.replace(setting, example=setting.example.replace("{stack}", stack or "<stack>"))
    if setting.pulumi_type == "object" and setting.example and not setting.example.startswith(("{", "[{")):
        # An object is set leaf by leaf: the example is "<path> <value>" (limits.memory 4Gi).
        path, _, leaf = setting.example.partition(" ")
        return f"pulumi config set {flag}--path '{PROJECT}:{setting.key}{'' if path.startswith('[') else '.'}{path}' {_quote(leaf or '<value>')}"
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
        # The stack's profile (dev, staging, prod: sizing, strictness, protection) and its
        # defaults, which replace the schema's (dev: small footprint).
        self.profile_name = ""
        self.profile: dict[str, Any] = {}
        self.stack = ""

    @property
    def is_prod(self) -> bool:
        return self.profile_name == "prod"

    def problem(self, message: str) -> None:
        self.problems.append(message)

    def fix(self, key: str, value: str = "") -> str:
        return fix_command(self.schema[key], value, self.stack)

    def raw(self, key: str) -> Any:
        value = runtime_config.get_config(f"{PROJECT}:{key}")
        # The CLI passes Pulumi.yaml's declared defaults as set values; "" is how an optional key
        # is declared unset there (tools/pulumi_yaml.py says which keys are declared).
        if value == "" and self.schema[key].optional:
            return None
        return value

    def get(self, key: str) -> Any:
        setting = self.schema[key]
        raw = self.raw(key)
        if raw is None:
            default = self.profile.get(key, setting.default)
            if default is None and not setting.optional:
                self.problem(f"{PROJECT}:{key} is not set: {setting.description} Fix: {fix_command(setting, stack=self.stack)}")
            return default
        if setting.pulumi_type in ("array", "object") and isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError:
                self.problem(f"{PROJECT}:{key} = {raw!r}: not valid JSON for a {setting.pulumi_type}. Fix: {fix_command(setting, stack=self.stack)}")
                return setting.default
        try:
            return setting.parse(raw)
        except ValueError as err:
            self.problem(f"{PROJECT}:{key} = {raw!r}: {err}. Fix: {fix_command(setting, stack=self.stack)}")
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
                self.problem(f"{full} is not set ({why}): {setting.description} Fix: {fix_command(setting, stack=self.stack)}")
            return None
        if not runtime_config.is_config_secret(full):
            if key not in self._plain_reported:  # check_unknown_keys may have reported it already
                # Never echo the value: it is a credential stored in plain text.
                self.problem(f"{full} is stored in plain text. Fix: pulumi config rm {full} && {fix_command(setting)}")
        else:
            try:
                setting.parse(raw)
            except ValueError as err:
                self.problem(f"{full} = [secret, not shown]: {err}. Fix: {fix_command(setting, stack=self.stack)}")
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
