"""Reading resource inputs as a policy receives them.

``args.props`` is not a plain dict: the SDK wraps inputs in read-only ``Mapping`` /
``Sequence`` proxies (that raise on values unknown during preview), and secret leaves
arrive as :class:`pulumi_policy.Secret` (see ``secret_markers``). Everything here works
on those abstract types, never on ``dict``/``list``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Iterator, Optional

from pulumi_policy import Secret
from pulumi_policy.proxy import UnknownValueError


def is_secret(value: Any) -> bool:
    return isinstance(value, Secret)


def reveal(value: Any) -> Any:
    """The value inside a secret marker (for checks that are not about secrecy: images, labels)."""
    while isinstance(value, Secret):
        value = value.value
    return value


def is_mapping(value: Any) -> bool:
    return isinstance(reveal(value), Mapping)


def is_list(value: Any) -> bool:
    value = reveal(value)
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def get(value: Any, *path: Any, default: Any = None) -> Any:
    """``get(props, "spec", "template", "spec")`` through mappings and secrets; ``default`` when absent."""
    for key in path:
        value = reveal(value)
        if isinstance(key, int):
            if not is_list(value) or not -len(value) <= key < len(value):
                return default
            value = value[key]
        else:
            if not isinstance(value, Mapping) or key not in value:
                return default
            value = value[key]
    return reveal(value) if value is not None else default


def items(value: Any) -> Iterator[tuple[str, Any]]:
    value = reveal(value)
    if isinstance(value, Mapping):
        for key in value:
            yield str(key), value[key]


def elements(value: Any) -> Iterator[Any]:
    value = reveal(value)
    if is_list(value):
        for element in value:
            yield element


def known_items(value: Any) -> Iterator[tuple[str, Any]]:
    """Like ``items`` but skips values a preview cannot know yet (they are checked on ``up``)."""
    value = reveal(value)
    if isinstance(value, Mapping):
        for key in value:
            try:
                child = value[key]
            except UnknownValueError:
                continue
            yield str(key), child


def known_elements(value: Any) -> Iterator[tuple[int, Any]]:
    value = reveal(value)
    if is_list(value):
        for index in range(len(value)):
            try:
                yield index, value[index]
            except UnknownValueError:
                continue


def text(value: Any) -> Optional[str]:
    value = reveal(value)
    return value if isinstance(value, str) else None


def join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)
