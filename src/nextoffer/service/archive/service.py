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

**Read** (the learning jobs' ``--archive DIR``): ``open_archive`` takes the manifest's
partitions that are no longer attached (one still attached, whose detach did not commit, is
left to the hot ledger); ``archived_rows`` reads the files of the months a job's window
reaches, each checked against the manifest first (a file that does not check is refused,
named), as rows shaped like the database's (JSON parsed, times in UTC); ``merged`` puts
them with the hot rows in ``seq`` order and refuses a ``seq`` found in both. Each archived
partition is recorded in the audit when it is detached, so a job that reads only the hot
ledger can say which archived months it did not read (``unread``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import os
from collections import namedtuple
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from dataclasses import field as default
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..errors import InvalidInput
from . import repository
from .repository import Partition
from .schemas import MANIFEST, MANIFEST_FORMAT, ArchivedPartition, Manifest

__all__ = ["ArchiveView", "Condition", "archivable", "archive", "archive_partition", "archived_rows",
           "archived_seqs", "archived_until", "merged",
           "open_archive", "parse_before", "read_manifest", "unread", "verify"]  # fmt: skip


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


def read_manifest(folder: Path, field: str = "DIR") -> Manifest:
    """The folder's manifest; a folder without one holds an empty archive. A manifest that
    cannot be read is refused naming ``field``."""
    path = folder / MANIFEST
    if not path.exists():
        return {"format": MANIFEST_FORMAT, "partitions": []}
    try:
        manifest: Manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput.one(field, f"{path}: not a readable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise InvalidInput.one(field, f"{path}: not a manifest of format {MANIFEST_FORMAT}")
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
    repository.record(session, partition, {"folder": str(folder.resolve()), **entry})
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


# -- reading an archive with the hot ledger (the learning jobs' --archive) -----------------


@dataclass
class ArchiveView:
    """An archive opened for reading with the hot ledger: its folder, the manifest's
    partitions that left the hot ledger (``entries``), the ones left out because they are
    still attached (``attached``), and the partitions read so far (``read``, by name)."""

    folder: Path
    entries: list[ArchivedPartition]
    attached: list[str]
    option: str = "archive"
    read: dict[str, ArchivedPartition] = default(default_factory=dict)
    _checked: set[str] = default(default_factory=set)

    def months_read(self) -> list[str]:
        """The months (YYYY-MM) of the partitions read, oldest first."""
        return sorted({e["start"][:7] for e in self.read.values()})


def open_archive(session: Session, folder: Path, field: str = "archive") -> ArchiveView:
    """The archive in ``folder``, to be read with ``session``'s hot ledger; refused naming
    ``field`` when it is not a folder or holds no manifest. Partitions the manifest lists but
    that are still attached (an archive run that stopped before its detach committed) are
    left out: their rows are in the hot ledger."""
    if not folder.is_dir():
        raise InvalidInput.one(field, f"{folder}: not a folder")
    if not (folder / MANIFEST).is_file():
        raise InvalidInput.one(field, f"{folder}: no {MANIFEST} (not a ledger archive)")
    manifest = read_manifest(folder, field)
    hot = (
        {p.name for p in repository.attached(session)}
        if session.get_bind().dialect.name == "postgresql"
        else set()
    )
    entries = [e for e in manifest["partitions"] if e["partition"] not in hot]
    left = [e["partition"] for e in manifest["partitions"] if e["partition"] in hot]
    return ArchiveView(folder, entries, left, field)


def archived_seqs(session: Session) -> dict[str, int]:
    """Per ledger table, the newest ``seq`` of its archived months (a table with none
    archived is left out): a sealed row up to it that the database no longer holds was
    archived, not deleted."""
    newest: dict[str, int] = {}
    for entry in repository.archived(session).values():
        if entry.get("last_seq") is not None:
            ledger = str(entry["ledger"])
            newest[ledger] = max(newest.get(ledger, 0), int(entry["last_seq"]))
    return newest


def archived_until(session: Session) -> dt.datetime | None:
    """The end of the newest month archived (None: none archived): months are archived
    oldest first, so the hot ledger holds no row from before it."""
    ends = [dt.datetime.fromisoformat(d["end"]) for d in repository.archived(session).values()]
    return max(ends, default=None)


def unread(
    session: Session, view: ArchiveView | None, since: dt.datetime | None = None
) -> list[str]:
    """The months (YYYY-MM) recorded as archived (in the audit, when they were detached)
    that end after ``since`` (None: all) and that ``view`` does not hold: what a job
    reading ``view`` (None: only the hot ledger) over that window does not see."""
    held = set() if view is None else {e["partition"] for e in view.entries}
    return sorted({
        str(d["start"])[:7]
        for name, d in repository.archived(session).items()
        if name not in held and (since is None or dt.datetime.fromisoformat(d["end"]) > since)
    })  # fmt: skip


Condition = tuple[str, str, Any]


def _condition(pc: Any, column: str, op: str, value: Any) -> Any:
    kept = pc.field(column)
    if op == "==":
        return kept == value
    if op == "in":
        return kept.isin(list(value))
    if op == "not null":
        return kept.is_valid()
    if op == "true":
        return kept == True  # noqa: E712  (a pyarrow expression, not a test)
    raise ValueError(f"unknown condition {op!r}")


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)


def archived_rows(
    view: ArchiveView,
    ledger: str,
    columns: Sequence[str],
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    where: Iterable[Condition] = (),
) -> list[Any]:
    """The archived rows of ``ledger`` (``columns``, plus ``seq`` first) from the partitions
    whose month reaches ``since``..``until`` (``occurred_at``, both included; None: no
    bound), that meet every condition of ``where`` ((column, op, value), op one of ``==``,
    ``in``, ``not null``, ``true``), in ``seq`` order; each row a named
    tuple shaped as the database's (JSON columns parsed, times in UTC). Each file is
    checked against the manifest before it is read (checksum, rows, first and last seq):
    one that does not check is refused, named."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = repository.LEDGERS[ledger]
    names = ["seq", *[c for c in columns if c != "seq"]]
    json_names = {c.name for c in table.c if isinstance(c.type, sa.JSON)} & set(names)
    time_names = {c.name for c in table.c if isinstance(c.type, sa.DateTime)} & set(names)
    row_type = namedtuple("ArchivedRow", names)  # type: ignore[misc]
    conditions = [_condition(pc, *c) for c in where]
    if since is not None:
        conditions.append(pc.field("occurred_at") >= since)
    if until is not None:
        conditions.append(pc.field("occurred_at") <= until)
    out: list[Any] = []
    for entry in view.entries:
        if entry["ledger"] != ledger:
            continue
        start, end = (
            dt.datetime.fromisoformat(entry["start"]),
            dt.datetime.fromisoformat(entry["end"]),
        )
        if (since is not None and end <= since) or (until is not None and start > until):
            continue
        if entry["partition"] not in view._checked:
            problems = _check(view.folder, entry)
            if problems:
                raise InvalidInput.one(
                    view.option, f"{view.folder / entry['file']}: refused, it does not match the"
                                f" manifest: {'; '.join(problems)}",
                )  # fmt: skip
            view._checked.add(entry["partition"])
        condition = None
        for c in conditions:
            condition = c if condition is None else condition & c
        data = pq.read_table(view.folder / entry["file"], columns=names, filters=condition)
        view.read[entry["partition"]] = entry
        values = [data.column(n).to_pylist() for n in names]
        for i, n in enumerate(names):
            if n in json_names:
                values[i] = [None if v is None else json.loads(v) for v in values[i]]
            elif n in time_names:
                values[i] = [None if v is None else _utc(v) for v in values[i]]
        out.extend(row_type(*row) for row in zip(*values, strict=True))
    out.sort(key=lambda row: row.seq)
    return out


def merged(view: ArchiveView, archived: list[Any], hot: Iterable[Any]) -> list[Any]:
    """``archived`` and ``hot`` rows (each with ``seq``) in ``seq`` order; refused (naming
    the archive) when a ``seq`` is in both: the archive and the hot ledger would count a row
    twice."""
    seqs = {row.seq for row in archived}
    hot = list(hot)
    both = sorted(row.seq for row in hot if row.seq in seqs)
    if both:
        shown = ", ".join(map(str, both[:5])) + (", …" if len(both) > 5 else "")
        raise InvalidInput.one(view.option, f"{view.folder}: {len(both):,} rows are both archived"
                                           f" and in the hot ledger (seq {shown}): not read")  # fmt: skip
    return sorted([*archived, *hot], key=lambda row: row.seq)
