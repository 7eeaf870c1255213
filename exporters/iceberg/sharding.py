"""Which replica exports which table: jump consistent hashing of ``database.table``.

Every replica computes the same owner for a table from its name alone, so the
replicas need no coordination; see :func:`shard_of`.
"""

from __future__ import annotations

import hashlib
import re

_JUMP_MULTIPLIER = 2862933555777941757
_MASK64 = (1 << 64) - 1
MAX_SHARDS = 1024


def jump_hash(key: int, buckets: int) -> int:
    """Lamping & Veach's jump consistent hash: a bucket in [0, buckets) for a 64-bit key.

    Going from N to N+1 buckets moves a key only into the new bucket N (about 1/(N+1)
    of the keys), never between existing buckets.
    """
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * _JUMP_MULTIPLIER + 1) & _MASK64
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def shard_of(database: str, table: str, shards: int) -> int:
    """The shard in [0, shards) that exports ``database.table``.

    Stable across processes, restarts and Python versions: the first 8 bytes of the
    SHA-1 of the UTF-8 string ``"database.table"`` (not Python's per-process ``hash()``),
    through :func:`jump_hash`.
    """
    digest = hashlib.sha1(f"{database}.{table}".encode("utf-8")).digest()
    return jump_hash(int.from_bytes(digest[:8], "big"), shards)


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> (I, N) with 0 <= I < N <= MAX_SHARDS."""
    m = re.match(r"^\s*(\d+)\s*/\s*(\d+)\s*$", text or "")
    if not m:
        raise ValueError(f"invalid shard {text!r} (use I/N, e.g. 0/1 or 2/4)")
    index, count = int(m.group(1)), int(m.group(2))
    if not 1 <= count <= MAX_SHARDS:
        raise ValueError(f"shard count in {text!r} must be between 1 and {MAX_SHARDS}")
    if not 0 <= index < count:
        raise ValueError(f"shard index in {text!r} must be between 0 and {count - 1} (0-based)")
    return index, count
