"""An archive's manifest: what each Parquet file holds and how to check it."""

from __future__ import annotations

from typing import TypedDict

__all__ = ["MANIFEST", "MANIFEST_FORMAT", "ArchivedPartition", "Manifest"]

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1


class ArchivedPartition(TypedDict):
    """One partition in the archive: its ledger table, its month (``start`` inclusive,
    ``end`` exclusive, UTC), its file (relative to the archive's folder), how many rows,
    the first and last ``seq``, and the SHA-256 of the file."""

    ledger: str
    partition: str
    start: str
    end: str
    file: str
    rows: int
    first_seq: int | None
    last_seq: int | None
    sha256: str


class Manifest(TypedDict):
    format: int
    partitions: list[ArchivedPartition]
