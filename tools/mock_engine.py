"""Run the Pulumi program under Pulumi's mock engine and record every registration.

Stack files are read by ``tools.stack_files``, secrets masked by ``tools.masking``.
The stock ``MockMonitor`` keeps only each resource's final state: it loses parents,
``depends_on`` and which leaves were secret. ``RecordingMonitor`` reads the raw
``RegisterResource`` request instead, so tests and the offline render can see
exactly what the engine would receive.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import gc
import hashlib
import logging
import os
import runpy
import sys
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from google.protobuf import json_format

from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import config as runtime_config
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from tools.masking import SECRET_MASK, UNKNOWN_MASK, Secret, leaked_secrets, masked, secret_paths
from tools.stack_files import PROJECT, ROOT, ciphertext_digest, read_stack_file, stack_config

# What the tests and tools import from here besides the engine itself.
__all__ = [
    "PROJECT", "ROOT", "SECRET_MASK", "UNKNOWN_MASK", "ProgramMocks", "ProgramRun", "Registration", "RecordingMonitor", "Secret",
    "ciphertext_digest", "close_event_loop", "leaked_secrets", "masked", "open_event_loop", "read_stack_file", "run_program",
    "secret_paths", "stack_config",
]


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
    _close_stray_event_loops_at_exit()


@functools.lru_cache(maxsize=None)
def _close_stray_event_loops_at_exit() -> None:
    """Once per process, on the error path: the strays only matter at interpreter exit, and
    atexit handlers run before its final garbage collection. (Scanning the whole heap at every
    failed run made each of the settings corpus' renders three times slower in one test process.)"""
    atexit.register(close_stray_event_loops)


def close_stray_event_loops() -> None:
    """Close every event loop object still open that nothing runs: loops the SDK made on the
    side (its _sync_await makes one when none is set) are otherwise left to the garbage
    collector at exit, with the same "Invalid file descriptor: -1" traceback (seen with
    PYTHONHASHSEED=8 after the current loop was already closed)."""
    for obj in gc.get_objects():
        if isinstance(obj, asyncio.AbstractEventLoop) and not obj.is_closed() and not obj.is_running():
            obj.close()


def _stack_outputs() -> dict[str, Any]:
    """The program's ``pulumi.export`` values, serialized as the engine would get them (secrets marked)."""
    from pulumi.runtime.settings import get_root_resource

    root = get_root_resource()
    exported = dict(getattr(root, "outputs", {}) or {})
    wire = _sync_await(rpc.serialize_properties(exported, {}))
    return _from_wire(json_format.MessageToDict(wire))
