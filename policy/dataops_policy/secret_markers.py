"""Keep Pulumi's secret markers in the inputs a resource policy sees.

The engine sends analyzers the resource inputs *with* secret markers (the CLI marshals
them with ``KeepSecrets``), but pulumi-policy's Python ``Analyze`` deserializes them with
``proxy_secrets=False``, which drops the markers: a policy would see a Kubernetes
Secret's ``stringData`` as plain text and could not tell a secret value from a plain one.
``install()`` swaps the SDK's deserializer for one that turns each secret into
:class:`pulumi_policy.Secret` (the SDK's own secret type, used by its remediation path),
so ``no-plaintext-credentials`` can check secrecy in a real ``pulumi preview`` exactly as
it does in the offline tests. Only the validation path changes: with
``proxy_secrets=True`` (remediations) the SDK's own function runs unchanged.

This depends on pulumi-policy's module layout; ``policy/requirements.txt`` pins the
version, and ``tests/test_policy.py`` drives the SDK's real ``Analyze`` to prove it holds.
"""

from __future__ import annotations

from typing import Any, Dict

import pulumi_policy.policy as _sdk_policy
from pulumi_policy import Secret
from pulumi_policy import deserialize as _sdk_deserialize

_SDK_DESERIALIZE = _sdk_deserialize.deserialize_properties


def _keep(prop: Any) -> Any:
    if isinstance(prop, list):
        return [_keep(e) for e in prop]
    if isinstance(prop, dict):
        signature = prop.get(_sdk_deserialize.SPECIAL_SIG_KEY)
        if signature == _sdk_deserialize.SPECIAL_SECRET_SIG:
            if "value" not in prop:
                raise AssertionError("Invalid secret encountered when unmarshaling resource property")
            return Secret(_keep(prop["value"]))
        if signature is not None:  # assets and archives: the SDK's own handling
            return _sdk_deserialize._deserialize_property(prop)  # pylint: disable=protected-access
        return {k: _keep(v) for k, v in prop.items()}
    return prop


def deserialize_keeping_secrets(props: Dict[str, Any], proxy_secrets: bool = False) -> Dict[str, Any]:
    if proxy_secrets:
        return _SDK_DESERIALIZE(props, True)
    return {key: _keep(value) for key, value in props.items()}


def install() -> None:
    """Make the SDK's ``Analyze`` keep secret markers (idempotent)."""
    if not hasattr(_sdk_policy, "deserialize_properties"):
        raise RuntimeError("pulumi-policy no longer exposes policy.deserialize_properties; revisit secret_markers.py")
    _sdk_policy.deserialize_properties = deserialize_keeping_secrets


def installed() -> bool:
    return _sdk_policy.deserialize_properties is deserialize_keeping_secrets
