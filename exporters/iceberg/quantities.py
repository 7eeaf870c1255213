"""Duration and byte-size values of the Iceberg exporter's flags (``30s``, ``5m``, ``32MiB``).

Kept apart from the option table so that the exporter's own tests and tools can parse
a value without building an argument parser.
"""

from __future__ import annotations

import re

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE_RE = re.compile(r"^\s*(\d+)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.I)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
}


def parse_duration(text: str) -> float:
    """Parse ``30s``, ``5m``, ``1h``, ``250ms``, ``1.5s`` or plain seconds into seconds."""
    m = _DURATION_RE.match(text or "")
    if not m:
        raise ValueError(f"invalid duration {text!r} (use e.g. 30s, 5m, 1h)")
    value = float(m.group(1)) * _DURATION_UNITS[m.group(2) or "s"]
    if value <= 0:
        raise ValueError(f"duration {text!r} must be greater than zero")
    return value


def parse_size(text: str) -> int:
    """Parse a byte count: ``33554432``, ``32MiB``, ``64MB``."""
    m = _SIZE_RE.match(text or "")
    if not m:
        raise ValueError(f"invalid size {text!r} (use a byte count such as 33554432 or 32MiB)")
    value = int(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()]
    if value <= 0:
        raise ValueError(f"size {text!r} must be greater than zero")
    return value
