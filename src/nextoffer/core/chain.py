"""The ledger's hash chain: a row's canonical bytes, its digest, and the link to the one before.

A ledger row's **canonical encoding** is its row as JSON text. PostgreSQL writes its own
in the database (a JSON array of the columns in the table's order, NULLs at its end left
out: ``service.chain.repository``), so that verifying reads digests, not rows. This
module's is SQLite's, which has no SHA-256 of its own: one JSON object of its columns,

- every column but ``seq`` (the link carries it), and no column whose value is NULL, so a
  column added later (NULL in older rows) leaves the older rows' bytes as they were;
- keys sorted, no spaces (``","`` and ``":"``), UTF-8 (no ``\\u`` escapes but control
  characters), floats as Python's ``repr`` (the shortest that reads back the same), no NaN;
- times as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC (a time without a zone is UTC);
- JSON columns as their value (objects' keys sorted at every depth).

``digest = SHA-256(canonical)``; the chain's entry n links it to entry n - 1:
``hash_n = SHA-256(hash_{n-1} || seq as 8 bytes, big-endian || digest)``, ``hash_0`` 32 zero
bytes. The digest leaves ``seq`` out so that a row moved to another place is recognised as
such; the link puts it back, so a checkpoint over the hashes fixes every row's place.

>>> canonical({"seq": 7, "b": None, "a": 1.5, "t": dt.datetime(2026, 1, 2, 3, 4, 5)})
b'{"a":1.5,"t":"2026-01-02T03:04:05.000000Z"}'
>>> link(GENESIS, 1, digest(b"{}")).hex()[:16]
'11877e2e7b75bc88'
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["GENESIS", "canonical", "digest", "link"]

GENESIS = bytes(32)
_UTC = dt.UTC
_encode = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode
_sha256 = hashlib.sha256


def _time(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(_UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(row: Mapping[Any, Any]) -> bytes:
    """The row's canonical bytes (see the module's docstring)."""
    out = {}
    for name, value in row.items():
        if value is None or name == "seq":
            continue
        out[name] = _time(value) if isinstance(value, dt.datetime) else value
    return _encode(out).encode()


def digest(data: bytes) -> bytes:
    return _sha256(data).digest()


def link(previous: bytes, seq: int, row_digest: bytes) -> bytes:
    """The chain's hash for the row at ``seq`` whose digest is ``row_digest``."""
    return _sha256(previous + seq.to_bytes(8, "big") + row_digest).digest()
