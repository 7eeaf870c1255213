"""Run the Pulumi program under Pulumi's mock engine and record every registration.

The stock ``MockMonitor`` keeps only each resource's final state: it loses parents,
``depends_on`` and which leaves were secret. ``RecordingMonitor`` reads the raw
``RegisterResource`` request instead, so tests and the offline render can see
exactly what the engine would receive.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import logging
import json
import os
import re
import runpy
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml
from google.protobuf import json_format

from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import config as runtime_config
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "dataops-monitoring"
SECRET_MASK = "[secret]"
UNKNOWN_MASK = "[unknown until apply]"


class Secret:
    """A secret leaf as the engine received it; ``value`` never leaves the test process."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __repr__(self) -> str:  # never print the value, even in a failing assertion
        return "Secret(***)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.value == self.value


def _from_wire(value: Any) -> Any:
    """Turn a deserialized protobuf Struct into plain Python, keeping secret markers as ``Secret``."""
    if isinstance(value, dict):
        sig = value.get(rpc._special_sig_key)
        if sig == rpc._special_secret_sig:
            return Secret(_from_wire(value.get("value")))
        if sig == rpc._special_resource_sig:
            return {"resourceRef": value.get("urn")}
        if sig is not None:
            return {k: _from_wire(v) for k, v in value.items() if k != rpc._special_sig_key}
        return {k: _from_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_wire(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf Struct numbers are doubles; 3.0 in values.yaml would read wrong
    return value


# Below this length a secret is not replaced inside longer text (a 2-character secret would
# match everywhere); it is masked as a whole leaf, as a token, or by masking the whole string.
SHORT_SECRET = 4


def _token_re(secret: str) -> "re.Pattern[str]":
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])")


def _mask_text(text: str, secret_values: frozenset[str], inside_secret: bool = False) -> str:
    """Mask every secret in ``text``, whatever its length.

    A string that is a secret is masked whole. Longer secrets are replaced where they occur.
    A short one (under SHORT_SECRET characters) inside a secret-marked input masks the whole
    string (an ``objstore.yml`` with a 3-character key shows no part of itself); elsewhere it
    is masked where it stands as a token of its own (``user:ab@host``).
    """
    if text in secret_values:
        return SECRET_MASK
    for secret in sorted((s for s in secret_values if s), key=len, reverse=True):
        if len(secret) >= SHORT_SECRET:
            if secret in text:
                text = text.replace(secret, SECRET_MASK)
        elif inside_secret and secret in text:
            return SECRET_MASK
        else:
            text = _token_re(secret).sub(SECRET_MASK, text)
    return text


def masked(value: Any, secret_values: frozenset[str] = frozenset(), inside_secret: bool = False) -> Any:
    """Mask secrets at the leaf where they occur, keeping everything else readable.

    Providers mark whole inputs secret (a Kubernetes Secret's ``stringData`` is secret as
    soon as it exists), so the wire marker alone would hide ``admin-user: admin`` too.
    The render therefore also knows the secrets' sources (secret config values and
    generated passwords) and masks exactly those values, inside strings as well
    (an ``objstore.yml`` document keeps its bucket and endpoint readable).
    """
    if isinstance(value, Secret):
        inner = value.value
        if isinstance(inner, (dict, list)):
            return masked(inner, secret_values, inside_secret=True)
        return SECRET_MASK
    if isinstance(value, dict):
        return {k: masked(v, secret_values, inside_secret) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, secret_values, inside_secret) for v in value]
    if value == rpc.UNKNOWN:
        # An unknown inside a secret container is a generated secret (e.g. a password).
        return SECRET_MASK if inside_secret else UNKNOWN_MASK
    if isinstance(value, str):
        return _mask_text(value, secret_values, inside_secret)
    return value


def leaked_secrets(value: Any, secret_values: frozenset[str], path: str = "") -> list[str]:
    """Paths where a known secret value appears outside any secret-marked input."""
    if isinstance(value, Secret):
        return []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in leaked_secrets(v, secret_values, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in leaked_secrets(v, secret_values, f"{path}[{i}]")]
    if isinstance(value, str) and any(
        s and (value == s or (s in value if len(s) >= SHORT_SECRET else bool(_token_re(s).search(value)))) for s in secret_values
    ):
        return [path]
    return []


def secret_paths(value: Any, prefix: str = "") -> list[str]:
    """Dotted paths of every secret leaf, e.g. ``stringData.admin-password``."""
    if isinstance(value, Secret):
        return [prefix]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in secret_paths(v, f"{prefix}.{k}" if prefix else k)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in secret_paths(v, f"{prefix}[{i}]")]
    return []


@dataclass
class Registration:
    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    inputs: dict
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    additional_secret_outputs: list[str]
    provider: str = ""  # "<provider urn>::<id>" as the engine gets it; "" = the default provider
    protect: bool = False
    aliases: tuple[str, ...] = ()

    def masked_inputs(self, secret_values: frozenset[str] = frozenset()) -> dict:
        return masked(self.inputs, secret_values)

    def secret_paths(self) -> list[str]:
        return secret_paths(self.inputs)

    @property
    def namespace(self) -> Optional[str]:
        metadata = self.inputs.get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("namespace"), str):
            return metadata["namespace"]
        namespace = self.inputs.get("namespace")
        return namespace if isinstance(namespace, str) else None


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A MockMonitor that also keeps the raw registration requests."""

    def __init__(self, mocks: pulumi_mocks.Mocks):
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self.outputs_registered: set[str] = set()

    def RegisterResourceOutputs(self, request):
        # Components call register_outputs; a component that never does stays "creating" in the CLI.
        self.outputs_registered.add(request.urn)
        return super().RegisterResourceOutputs(request)

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            raw = json_format.MessageToDict(request.object) if request.HasField("object") else {}
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    custom=request.custom,
                    inputs=_from_wire(raw),
                    dependencies=sorted(set(request.dependencies)),
                    property_dependencies={k: sorted(v.urns) for k, v in sorted(request.propertyDependencies.items())},
                    additional_secret_outputs=sorted(request.additionalSecretOutputs),
                    provider=request.provider,
                    protect=bool(request.protect),
                    aliases=tuple(sorted([json_format.MessageToJson(a, sort_keys=True, indent=None) for a in request.aliases] + list(request.aliasURNs))),
                )
            )
        return response


class ProgramMocks(pulumi_mocks.Mocks):
    """Resource outputs echo the inputs; computed values a preview cannot know stay unknown."""

    def __init__(self, preview: bool):
        self.preview = preview

    def new_resource(self, args: pulumi_mocks.MockResourceArgs):
        outputs = dict(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            # A preview cannot know the generated value; tests must never see a real one either.
            # A known placeholder (not "unknown") so the containers holding it stay readable
            # in the render; it is one of the secret values masked wherever it appears.
            outputs["result"] = "mock-generated-password"
            outputs["bcryptHash"] = "mock-generated-hash"
        if args.typ.startswith("kubernetes:") and "metadata" in outputs:
            metadata = dict(outputs["metadata"] or {})
            # Like the real provider: without metadata.name an object is auto-named
            # <logical name>-<random suffix>, so nothing can find it by its logical name.
            metadata.setdefault("name", f"{args.name}-{hashlib.sha1(args.name.encode()).hexdigest()[:8]}")
            outputs["metadata"] = metadata
        if args.typ == "kubernetes:helm.sh/v3:Release":
            outputs.setdefault("name", args.inputs.get("name", args.name))
            outputs["status"] = {"name": outputs["name"], "namespace": args.inputs.get("namespace", "")}
        return f"{args.name}-id", outputs

    def call(self, args: pulumi_mocks.MockCallArgs):
        return {}

    @staticmethod
    def generated_secrets() -> frozenset[str]:
        return frozenset({"mock-generated-password", "mock-generated-hash"})


@dataclass
class ProgramRun:
    registrations: list[Registration]
    stack_outputs: dict[str, Any]
    # URNs whose resource called register_outputs (every component must).
    outputs_registered: frozenset[str] = frozenset()
    # Every secret value the program was given or generated: config secrets, passwords.
    secret_values: frozenset[str] = frozenset()
    # What the program logged with pulumi.log.warn (the CLI would show each).
    warnings: tuple[str, ...] = ()

    def by_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_token]

    def one(self, type_token: str, name: str) -> Registration:
        found = [r for r in self.registrations if r.type == type_token and r.name == name]
        if len(found) != 1:
            names = sorted(r.name for r in self.by_type(type_token))
            raise AssertionError(f"expected one {type_token} named {name!r}, have {names}")
        return found[0]


class _StackFileLoader(yaml.SafeLoader):
    """SafeLoader that records duplicate keys (PyYAML keeps the last; the Pulumi CLI refuses the file)."""

    def __init__(self, stream):
        super().__init__(stream)
        self.duplicates: list[tuple[str, int, int]] = []  # key, first line, repeated line (1-based)

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            try:
                key = self.construct_object(key_node, deep=True)
                hash(key)
            except Exception:  # an unhashable key (a list as a key): the base class reports it
                continue
            line = key_node.start_mark.line + 1
            if key in seen:
                self.duplicates.append((str(key), seen[key], line))
            else:
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


STACK_FILE_SECTIONS = ("config", "environment", "secretsprovider", "encryptedkey", "encryptionsalt")


def _file_problem(path: Path, message: str, fix: str) -> str:
    return f"{path.name}: {message}. Fix: {fix}"


def read_stack_file(path: Path) -> tuple[dict[str, Any], list[str], bool]:
    """The ``config:`` mapping of a stack file, the problems found reading it, and whether it is usable.

    The Pulumi CLI parses the stack file itself (and refuses a damaged one); the offline
    preview reads it here, so every kind of damage becomes a problem naming the file, the
    line and the fix instead of a traceback or a value silently dropped.
    """
    from core.settings import PROJECT as project

    edit = f"edit {path.name}"
    try:
        data = path.read_bytes()
    except OSError as err:
        return {}, [_file_problem(path, f"cannot be read ({err.strerror})", "check the file exists and is readable")], False
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        return {}, [_file_problem(path, f"is not UTF-8 text (byte 0x{data[err.start]:02x} on line {line})", f"{edit}: save it as UTF-8, or re-set the value on line {line} with pulumi config set")], False
    loader = _StackFileLoader(text)
    try:
        document = loader.get_single_data()
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" on line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        reason = getattr(err, "problem", None) or str(err).splitlines()[0]
        return {}, [_file_problem(path, f"is not valid YAML{where}: {reason}", f"{edit} (indent with spaces, quote values holding ':' or '#'), or recreate the value with pulumi config set")], False
    finally:
        loader.dispose()
    problems = [
        _file_problem(path, f"key {key!r} appears twice (lines {first} and {again}); Pulumi refuses the file", f"{edit}: delete one of the two lines, then pulumi config set {key} <value>")
        for key, first, again in loader.duplicates
    ]
    if document is None:
        return {}, problems, True
    if not isinstance(document, dict):
        return {}, problems + [_file_problem(path, f"must be a mapping with a config: section, not a {type(document).__name__}", f"{edit}: start it with 'config:' and one '{project}:<key>: <value>' line per setting")], False
    # Sections of a stack file (pulumi/sdk/go/common/workspace: ProjectStack); the CLI ignores
    # any other, so a misspelt `confg:` would drop every setting without a word.
    for section in document:
        if section not in STACK_FILE_SECTIONS:
            guess = difflib.get_close_matches(str(section), STACK_FILE_SECTIONS, n=1)
            hint = f" (did you mean {guess[0]}:?)" if guess else ""
            problems.append(_file_problem(path, f"top-level key {section!r} is not a stack file section{hint}", f"{edit}: rename it to config: (settings) or remove it"))
            if guess == ["config"] and "config" not in document:
                return {}, problems, False  # every setting is under the misspelt section: nothing else to say
    config = document.get("config")
    if config is None:
        return {}, problems, True
    if not isinstance(config, dict):
        return {}, problems + [_file_problem(path, f"config: must be a mapping of '{project}:<key>: <value>', not a {type(config).__name__}", f"{edit}: one '{project}:<key>: <value>' line per setting under config:")], False
    usable: dict[str, Any] = {}
    for key, value in config.items():
        if not isinstance(key, str):
            problems.append(_file_problem(path, f"config key {key!r} is not a name", f"{edit}: write the key as {project}:<key>"))
            continue
        namespace, colon, name = key.partition(":")
        if not colon or not namespace or not name:
            # The CLI takes only namespace:name keys in a stack file; a bare key never reaches the program.
            fixed = f"{project}:{name or namespace}"
            problems.append(_file_problem(path, f"config key {key!r} has no project prefix", f"{edit}: rename it to {fixed} (or delete the line and run pulumi config set {fixed} <value>)"))
            continue
        if value is None:
            # An empty value would leave the default in force without a word.
            problems.append(_file_problem(path, f"{key} has no value", f"pulumi config set {key} <value> (or pulumi config rm {key})"))
            continue
        if isinstance(value, dict) and "secure" in value and set(value) != {"secure"}:
            problems.append(_file_problem(path, f"{key} mixes 'secure:' with other fields {sorted(set(value) - {'secure'})}", f"pulumi config rm {key} && pulumi config set --secret {key} <value>"))
            continue
        if isinstance(value, dict) and set(value) == {"secure"} and not (isinstance(value["secure"], str) and value["secure"]):
            problems.append(_file_problem(path, f"{key} has an empty or non-text secure: value", f"pulumi config rm {key} && pulumi config set --secret {key} <value>"))
            continue
        usable[key] = value
    # Keys under another namespace (a misspelt project name) reach the program as the CLI would
    # pass them: the settings' unknown-key check names them.
    return usable, problems, True


def _placeholder(setting) -> str:
    """A placeholder a secret's own check accepts (a webhook must look like an https URL)."""
    for candidate in (f"placeholder-for-{setting.key}", f"https://placeholder.invalid/placeholder-for-{setting.key}"):
        try:
            setting.parse(candidate)
            return candidate
        except ValueError:
            continue
    return f"placeholder-for-{setting.key}"


def stack_config(
    stack: str,
    placeholder_secrets: bool,
    overrides: Optional[dict[str, Any]] = None,
    path: Optional[Path] = None,
    problems: Optional[list[str]] = None,
    secure_digests: Optional[dict[str, str]] = None,
    fill_missing_secrets: bool = True,
) -> tuple[dict[str, str], list[str]]:
    """Config as the Pulumi CLI would pass it for ``Pulumi.<stack>.yaml``: strings, JSON for lists/objects.

    Encrypted values (``secure: ...``) cannot be decrypted without the CLI; with
    ``placeholder_secrets`` they, and declared secrets that are missing, get clearly
    marked placeholder values so an offline preview shows where each secret goes.

    ``path`` reads another stack file (``tools.render --stack-file``). Damage in the file
    raises ``SettingsError``; with a ``problems`` list, damage that still leaves a usable
    config (a duplicate key, a key without the project prefix) is appended to it instead,
    so the caller can report it together with the settings' own problems. With a
    ``secure_digests`` dict, each encrypted value's :func:`ciphertext_digest` is put in it.
    Without ``fill_missing_secrets`` only the file's own ``secure:`` values get placeholders:
    the stack as `pulumi preview` sees it (the e2e compares the two).
    """
    from core.settings import SettingsError
    from settings import SCHEMA_BY_KEY, SETTINGS_SCHEMA  # the program's own schema: no second list of secrets

    path = path or ROOT / f"Pulumi.{stack}.yaml"
    # `pulumi stack init dev` writes no stack file until a value is set: no file is no config.
    if path.exists():
        document_config, file_problems, usable = read_stack_file(path)
    else:
        document_config, file_problems, usable = {}, [], True
    if file_problems and (problems is None or not usable):
        raise SettingsError(file_problems)
    if problems is not None:
        problems.extend(file_problems)
    # As the real CLI does: every default Pulumi.yaml declares reaches the program as a set
    # value unless the stack sets the key (the e2e found profile defaults hidden this way).
    raw: dict[str, Any] = declared_defaults()
    raw.update(document_config)
    raw.update(overrides or {})
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in raw.items():
        if value is None:
            continue
        if isinstance(value, dict) and set(value) == {"secure"}:
            if secure_digests is not None:
                secure_digests[key] = ciphertext_digest(str(value["secure"]))
            if placeholder_secrets:
                name = key.split(":", 1)[1]
                config[key] = _placeholder(SCHEMA_BY_KEY[name]) if name in SCHEMA_BY_KEY else f"placeholder-for-{name}"
                secret_keys.append(key)
            continue
        if isinstance(value, Secret):
            config[key] = value.value
            secret_keys.append(key)
        elif isinstance(value, bool):
            config[key] = "true" if value else "false"
        elif isinstance(value, (list, dict)):
            config[key] = json.dumps(value)
        else:
            config[key] = str(value)
    if placeholder_secrets and fill_missing_secrets:
        for setting in SETTINGS_SCHEMA:
            full = f"{PROJECT}:{setting.key}"
            if setting.secret and setting.render_placeholder and config.get(full, "") == "":  # "" is a declared default
                config[full] = _placeholder(setting)
                secret_keys.append(full)
    return config, sorted(secret_keys)


def declared_defaults() -> dict[str, Any]:
    """The defaults Pulumi.yaml declares, keyed like stack config."""
    document = yaml.safe_load((ROOT / "Pulumi.yaml").read_text()) or {}
    return {f"{PROJECT}:{key}": entry["default"] for key, entry in (document.get("config") or {}).items() if "default" in entry}


def ciphertext_digest(ciphertext: str) -> str:
    """A short digest of a ``secure:`` value's ciphertext.

    The offline preview cannot decrypt, so a rotated secret renders the same; its
    ciphertext changes (``pulumi config set --secret`` encrypts with a fresh nonce), which
    is how a review can still see it. The ciphertext is committed already: its digest
    tells nothing about the value.
    """
    return hashlib.sha256(ciphertext.encode()).hexdigest()[:16]


def run_program(stack: str, config: dict[str, str], secret_keys: Iterable[str] = (), preview: bool = True) -> ProgramRun:
    """Run ``__main__.py`` once under the mock engine with exactly this config."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    open_event_loop()
    mocks = ProgramMocks(preview)
    monitor = RecordingMonitor(mocks)
    warnings = _WarningLog()
    # A fresh root Stack per run: otherwise exports of an earlier run in this process linger.
    pulumi_settings.ROOT.set(None)
    pulumi_mocks.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor, logger=warnings.logger)
    runtime_config.set_all_config(dict(config), list(secret_keys))
    os.environ.pop("PULUMI_CONFIG", None)
    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    try:
        _sync_await(run_pulumi_func(lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__pulumi_program__")))
    except BaseException:
        close_event_loop()
        raise
    secrets = frozenset(config[k] for k in secret_keys if k in config) | ProgramMocks.generated_secrets()
    return ProgramRun(
        registrations=list(monitor.registrations),
        stack_outputs=_stack_outputs(),
        outputs_registered=frozenset(monitor.outputs_registered),
        secret_values=secrets,
        warnings=tuple(warnings.messages),
    )


class _WarningLog(logging.Handler):
    """The mock engine's logger for one run: keeps what the program warns about."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.logger = logging.Logger(f"{PROJECT}.program")  # not registered: no other handler sees it
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def open_event_loop() -> None:
    """An open event loop before pulumi's mocks are set: they take the current one, and an
    earlier failed run closed and unset it (close_event_loop)."""
    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())


def close_event_loop() -> None:
    """Close this thread's event loop (the one the program ran on), cancelling what it still holds.

    A loop left open is closed by the garbage collector at interpreter exit, sometimes after
    its self-pipe socket: asyncio then prints "Exception ignored in BaseEventLoop.__del__ ...
    ValueError: Invalid file descriptor: -1" after the clean settings message. The next run
    gets a fresh loop (pulumi's _sync_await creates one when none is set).
    """
    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:  # none set (closed already)
        return
    if not loop.is_closed() and not loop.is_running():
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())  # the threads of run_in_executor calls
        loop.close()
    asyncio.set_event_loop(None)


def _stack_outputs() -> dict[str, Any]:
    """The program's ``pulumi.export`` values, serialized as the engine would get them (secrets marked)."""
    from pulumi.runtime.settings import get_root_resource

    root = get_root_resource()
    exported = dict(getattr(root, "outputs", {}) or {})
    wire = _sync_await(rpc.serialize_properties(exported, {}))
    return _from_wire(json_format.MessageToDict(wire))
