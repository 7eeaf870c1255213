"""Load settings from a literal config dict, the way the Pulumi CLI would pass it."""

from __future__ import annotations

import json
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config
from pulumi.runtime import mocks as pulumi_mocks

from settings import PROJECT, load_settings
from tools.mock_engine import ProgramMocks, Secret, open_event_loop


def load(values: dict[str, Any], stack: str = "test"):
    """values: short keys -> value; Secret(...) marks a secret. Returns StackSettings or raises.

    Every stack names its cluster: a test that does not say otherwise gets a kubeContext
    (``kubeContext=None`` leaves it out); likewise the Iceberg exporter image, which has no
    default (``icebergExporterImage=None`` leaves it out)."""
    if not {"kubeContext", "kubeconfig", "allowCurrentContext"} & set(values):
        values = {"kubeContext": "test-cluster", **values}
    values = {"icebergExporterImage": "registry.example/iceberg-exporter:1.0.0", **values}
    values = {k: v for k, v in values.items() if v is not None}
    open_event_loop()
    pulumi_mocks.set_mocks(ProgramMocks(preview=True), project=PROJECT, stack=stack, preview=True)
    config, secret_keys = {}, []
    for key, value in values.items():
        full = f"{PROJECT}:{key}"
        if isinstance(value, Secret):
            value = value.value
            secret_keys.append(full)
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (list, dict)):
            value = json.dumps(value)
        config[full] = str(value)
    runtime_config.set_all_config(config, secret_keys)
    return load_settings(pulumi.Config(PROJECT))
