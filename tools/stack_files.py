"""Stack files as the Pulumi CLI reads them: ``Pulumi.<stack>.yaml`` -> the program's config.

Damage in a file (duplicate keys, a key without the project prefix, an unknown section) is
reported like a settings problem; encrypted values, which only the CLI can read, and missing
secrets get marked placeholders for the offline render.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Optional

import yaml

from core.k8s import read_yaml
from tools.masking import Secret

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "dataops-monitoring"
# Where `Pulumi.<stack>.yaml` is looked up: the project root, unless DATAOPS_STACK_DIR names
# another folder. The tests point it at their own sample files (tests/stacks/samples), so the
# real stack files stay user data: editing a channel or turning a layer on fails no test that
# is not about the file's validity (docs/DEVELOPING.md, "Tests own their inputs").
STACK_DIR_VARIABLE = "DATAOPS_STACK_DIR"


def stack_dir() -> Path:
    return Path(os.environ.get(STACK_DIR_VARIABLE) or ROOT)


def stack_file(stack: str) -> Path:
    return stack_dir() / f"Pulumi.{stack}.yaml"


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

    path = path or stack_file(stack)
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
            unneeded = setting.placeholder_unless and config.get(f"{PROJECT}:{setting.placeholder_unless}", "") not in ("", "{}")
            if setting.secret and setting.render_placeholder and not unneeded and config.get(full, "") == "":  # "" is a declared default
                config[full] = _placeholder(setting)
                secret_keys.append(full)
    return config, sorted(secret_keys)


def declared_defaults() -> dict[str, Any]:
    """The defaults Pulumi.yaml declares, keyed like stack config."""
    document = read_yaml(ROOT / "Pulumi.yaml") or {}
    return {f"{PROJECT}:{key}": entry["default"] for key, entry in (document.get("config") or {}).items() if "default" in entry}


def ciphertext_digest(ciphertext: str) -> str:
    """A short digest of a ``secure:`` value's ciphertext.

    The offline preview cannot decrypt, so a rotated secret renders the same; its
    ciphertext changes (``pulumi config set --secret`` encrypts with a fresh nonce), which
    is how a review can still see it. The ciphertext is committed already: its digest
    tells nothing about the value.
    """
    return hashlib.sha256(ciphertext.encode()).hexdigest()[:16]
