"""Retention: whole old ledger partitions archived to Parquet, then detached; archives checked.

**Archive** (``nextoffer ledger archive --before DATE``, PostgreSQL): every monthly partition
of ``decisions``, ``events`` and ``journey_transitions`` whose month ends on or before DATE
(00:00 UTC) is, one partition per transaction: locked against writers (its month is over:
none is expected), written to ``<ledger>/<partition>.parquet`` in the archive's folder (every
column; JSON as its text; written to a temporary file, flushed to disk, then renamed),
read back and checked (rows, first and last ``seq``), entered in the folder's
``manifest.json`` (rows, first and last ``seq``, SHA-256 of the file), and only then
detached from its table. This is the one sanctioned way rows leave the hot ledger. A run
that stops half-way leaves each partition either archived and detached, or attached (its
file and manifest entry, if written, are written again by the next run).

**Verify** (``nextoffer ledger verify-archive DIR``): every file of the manifest is read
again: its checksum, row count, first and last ``seq``, and that ``seq`` only grows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..errors import InvalidInput
from . import repository
from .repository import Partition
from .schemas import MANIFEST, MANIFEST_FORMAT, ArchivedPartition, Manifest

__all__ = ["archivable", "archive", "archive_partition", "parse_before", "read_manifest", "verify"]


def parse_before(text: str, now: dt.datetime) -> dt.datetime:
    """``--before``: a date (YYYY-MM-DD), not after today; its 00:00 UTC."""
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput.one("--before", f"expected a date YYYY-MM-DD, got {text!r}") from None
    if day > now.date():
        raise InvalidInput.one("--before", f"{day} is in the future: only whole past months"
                               " can be archived")  # fmt: skip
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def archivable(session: Session, before: dt.datetime) -> list[Partition]:
    """The attached partitions whose month ends on or before ``before``, oldest first."""
    if session.get_bind().dialect.name != "postgresql":
        raise InvalidInput.one(
            "database", "the ledger is partitioned only on PostgreSQL; SQLite keeps one table"
            " per ledger and has no partitions to archive",
        )  # fmt: skip
    return [p for p in repository.attached(session) if p.end <= before]


def _arrow_type(column: sa.Column[Any]) -> Any:
    import pyarrow as pa

    kind = column.type
    if isinstance(kind, sa.JSON):
        return pa.string()
    if isinstance(kind, sa.Boolean):
        return pa.bool_()
    if isinstance(kind, sa.Integer):
        return pa.int64()
    if isinstance(kind, sa.Float):
        return pa.float64()
    if isinstance(kind, sa.DateTime):
        return pa.timestamp("us", tz="UTC")
    return pa.string()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write(
    session: Session, partition: Partition, path: Path
) -> tuple[int, int | None, int | None]:
    """The partition's rows into ``path`` (Parquet); (rows, first seq, last seq)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = repository.LEDGERS[partition.ledger]
    schema = pa.schema([(c.name, _arrow_type(c)) for c in table.c])
    json_columns = [i for i, c in enumerate(table.c) if isinstance(c.type, sa.JSON)]
    seq_at = [c.name for c in table.c].index("seq")
    count, first, last = 0, None, None
    tmp = path.with_name(path.name + ".tmp")
    with pq.ParquetWriter(tmp, schema) as writer:
        for chunk in repository.rows(session, partition):
            columns = [list(values) for values in zip(*chunk, strict=True)]
            for i in json_columns:
                columns[i] = [
                    None if v is None else json.dumps(v, sort_keys=True) for v in columns[i]
                ]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
            first = chunk[0][seq_at] if first is None else first
            last = chunk[-1][seq_at]
            count += len(chunk)
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    tmp.replace(path)
    return count, first, last


def read_manifest(folder: Path) -> Manifest:
    """The folder's manifest; a folder without one holds an empty archive."""
    path = folder / MANIFEST
    if not path.exists():
        return {"format": MANIFEST_FORMAT, "partitions": []}
    try:
        manifest: Manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput.one("DIR", f"{path}: not a readable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise InvalidInput.one("DIR", f"{path}: not a manifest of format {MANIFEST_FORMAT}")
    return manifest


def _write_manifest(folder: Path, manifest: Manifest) -> None:
    path = folder / MANIFEST
    tmp = path.with_name(MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    tmp.replace(path)


def archive_partition(session: Session, partition: Partition, folder: Path) -> ArchivedPartition:
    """Archive one partition in ``session``'s transaction (the caller commits): write it,
    check it, enter it in the manifest, then detach it."""
    repository.lock(session, partition)
    (folder / partition.ledger).mkdir(parents=True, exist_ok=True)
    file = f"{partition.ledger}/{partition.name}.parquet"
    count, first, last = _write(session, partition, folder / file)
    entry: ArchivedPartition = {
        "ledger": partition.ledger, "partition": partition.name,
        "start": partition.start.isoformat(), "end": partition.end.isoformat(), "file": file,
        "rows": count, "first_seq": first, "last_seq": last, "sha256": _sha256(folder / file),
    }  # fmt: skip
    problems = _check(folder, entry)
    if problems:  # the file does not hold what was read: nothing is detached
        raise RuntimeError(f"{file}: written but does not check: {'; '.join(problems)}")
    manifest = read_manifest(folder)
    kept = [p for p in manifest["partitions"] if p["partition"] != partition.name]
    manifest["partitions"] = sorted([*kept, entry], key=lambda p: (p["start"], p["ledger"]))
    _write_manifest(folder, manifest)
    repository.detach(session, partition)
    return entry


def archive(
    transaction: Callable[[], Any], before: dt.datetime, folder: Path
) -> list[ArchivedPartition]:
    """Archive every partition whose month ends on or before ``before`` into ``folder``,
    each in a transaction of its own (``transaction()``: a context manager giving a
    session, committed at its end); the partitions archived, oldest first."""
    with transaction() as session:
        todo = archivable(session, before)
    folder.mkdir(parents=True, exist_ok=True)
    done = []
    for partition in todo:
        with transaction() as session:
            done.append(archive_partition(session, partition, folder))
    return done


def _check(folder: Path, entry: ArchivedPartition) -> list[str]:
    import pyarrow.parquet as pq

    path = folder / entry["file"]
    if not path.is_file():
        return [f"{entry['file']}: missing"]
    problems = []
    if _sha256(path) != entry["sha256"]:
        problems.append(f"{entry['file']}: checksum differs from the manifest's")
    try:
        seqs = pq.read_table(path, columns=["seq"]).column("seq").to_pylist()
    except Exception as exc:  # not Parquet, or no seq column
        return [*problems, f"{entry['file']}: not readable as the ledger's Parquet ({exc})"]
    if len(seqs) != entry["rows"]:
        problems.append(f"{entry['file']}: {len(seqs)} rows, the manifest says {entry['rows']}")
    if (seqs[0] if seqs else None, seqs[-1] if seqs else None) != (
        entry["first_seq"], entry["last_seq"],
    ):  # fmt: skip
        problems.append(f"{entry['file']}: first and last seq differ from the manifest's")
    if any(b <= a for a, b in itertools.pairwise(seqs)):
        problems.append(f"{entry['file']}: seq does not only grow")
    return problems


def verify(folder: Path) -> tuple[Manifest, list[str]]:
    """Check every file of ``folder``'s manifest; the manifest and the problems (none: the
    archive holds what its manifest says)."""
    if not (folder / MANIFEST).is_file():
        raise InvalidInput.one("DIR", f"{folder}: no {MANIFEST} (not an archive)")
    manifest = read_manifest(folder)
    problems: list[str] = []
    for entry in manifest["partitions"]:
        problems.extend(_check(folder, entry))
    return manifest, problems
