"""An inclusion proof as the API gives it: a JSON document a client checks with the public
key alone (README, "Tamper-evident ledger")."""

from __future__ import annotations

from typing import TypedDict

__all__ = ["CheckpointFile", "Proof"]


class CheckpointFile(TypedDict):
    """A signed checkpoint, as in the checkpoint directory: ``signed`` is the exact text
    signed (JSON: number, time, key_id, and per ledger table ``size``, ``root``,
    ``last_seq``), ``signature`` its Ed25519 signature (hex), ``key_id`` the signer's."""

    signed: str
    signature: str
    key_id: str


class Proof(TypedDict):
    """A decision's inclusion proof: its row's canonical text (``row``: on PostgreSQL a
    JSON array whose values are ``columns``' in order, NULLs at its end left out; on
    SQLite a JSON object, ``columns`` null), the chain hash before it, its own (the tree's
    leaf ``index``, from 0), the RFC 6962 audit path (hex, bottom up) to the checkpoint's
    ``decisions`` root, and the checkpoint."""

    decision_id: str
    seq: int
    index: int
    row: str
    columns: list[str] | None
    previous: str
    leaf: str
    path: list[str]
    checkpoint: CheckpointFile
