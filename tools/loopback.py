"""Loopback helpers the tests and the game day share: a free port on 127.0.0.1, a GET, and
rendered Thanos flags made loopback-only."""

from __future__ import annotations

import socket
import urllib.request


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
        return response.read()


# Flag prefixes whose in-cluster value a local run of a rendered Thanos part replaces.
THANOS_LOOPBACK_FLAGS = ("--http-address=", "--grpc-address=", "--objstore.config-file=", "--data-dir=", "--endpoint.sd-config=")


def localised(flags: list[str], **values: str) -> list[str]:
    """``flags`` with each ``THANOS_LOOPBACK_FLAGS`` flag set to ``values`` (keyed by the flag name
    without dashes, dots and dashes as underscores). A rendered flag without a value raises, so a
    new in-cluster address cannot slip through; listen addresses must be 127.0.0.1."""
    out = []
    for flag in flags:
        prefix = next((p for p in THANOS_LOOPBACK_FLAGS if flag.startswith(p)), None)
        if prefix is None:
            out.append(flag)
            continue
        key = prefix.strip("-=").replace(".", "_").replace("-", "_")
        if key not in values:
            raise ValueError(f"no loopback value for the rendered flag {flag}")
        out.append(prefix + values[key])
    for flag in out:
        if flag.startswith(("--http-address=", "--grpc-address=")) and not flag.split("=", 1)[1].startswith("127.0.0.1:"):
            raise ValueError(f"not a loopback address: {flag}")
    return out
