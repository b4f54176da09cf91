"""``nextoffer ledger``: archive whole old partitions to Parquet, and check an archive."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .output import fail, out

if TYPE_CHECKING:
    from ..service.archive.service import ArchiveView

__all__ = ["ArchiveDir", "archive", "archive_note", "ledger_app", "verify_archive"]

ledger_app = typer.Typer(
    help="The ledger at volume: archive old partitions (PostgreSQL), check an archive.",
    no_args_is_help=True,
)


@ledger_app.command("archive")
def archive(
    before: Annotated[
        str,
        typer.Option(
            "--before",
            help="A date (YYYY-MM-DD): every monthly partition whose month ends on or before"
            " it (00:00 UTC) is archived, then detached.",
        ),
    ],
    folder: Annotated[
        Path, typer.Option("--out", help="The archive's folder (made if missing).")
    ] = Path("ledger-archive"),
) -> None:
    """Write whole old ledger partitions to Parquet with a manifest (rows, first and last
    seq, SHA-256), check them, and only then detach them from the ledger (PostgreSQL)."""
    from sqlalchemy.exc import ProgrammingError

    from ..service.archive import service
    from ..service.errors import ServiceError
    from .service import open_database

    try:
        cutoff = service.parse_before(before, dt.datetime.now(dt.UTC))
    except ServiceError as exc:
        fail(exc.message)
    if folder.exists() and not folder.is_dir():
        fail(f"--out: {folder} is not a folder")
    db = open_database(owner=True)
    try:
        done = service.archive(db.transaction, cutoff, folder)
    except ServiceError as exc:
        fail(exc.message)
    except ProgrammingError as exc:
        if getattr(exc.orig, "sqlstate", None) != "42501":  # insufficient_privilege
            raise
        fail(
            f"{db.engine.url.username!r} may not detach the ledger's partitions: archiving is"
            " the owner role's work; set NEXTOFFER_OWNER_DATABASE_URL (owner_database_url)"
            f" to its URL ({str(exc.orig).strip()})"
        )
    finally:
        db.dispose()
    for entry in done:
        out.print(
            f"{entry['partition']}: {entry['rows']:,} rows (seq {entry['first_seq']}.."
            f"{entry['last_seq']}) -> {folder / entry['file']}, detached",
            markup=False,
        )
    out.print(
        f"archived {len(done)} partitions before {cutoff:%Y-%m-%d} into {folder}"
        if done else f"nothing to archive: no attached partition ends on or before {cutoff:%Y-%m-%d}",
        markup=False,
    )  # fmt: skip


@ledger_app.command("verify-archive")
def verify_archive(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="An archive's folder.")],
) -> None:
    """Read every file of an archive again and check it against the manifest: checksum,
    row count, first and last seq, seq only growing. Exit 1 on any problem."""
    from ..service.archive import service
    from ..service.errors import ServiceError

    if not folder.is_dir():
        fail(f"DIR: {folder} is not a folder")
    try:
        manifest, problems = service.verify(folder)
    except ServiceError as exc:
        fail(exc.message)
    for problem in problems:
        out.print(f"problem: {problem}", markup=False)
    rows = sum(p["rows"] for p in manifest["partitions"])
    if problems:
        fail(f"{len(problems)} problems in {folder}")
    out.print(
        f"ok: {len(manifest['partitions'])} partitions, {rows:,} rows, every checksum matches",
        markup=False,
    )


ArchiveDir = Annotated[
    Path | None,
    typer.Option(
        "--archive",
        help="A ledger archive's folder (`ledger archive --out`): read its rows of the window"
        " too, as if never archived (each file checked against the manifest first).",
    ),
]


def archive_note(view: ArchiveView | None, unread: list[str]) -> str | None:
    """What a learning job read of the archive, or which archived months it did not read."""
    notes = []
    if view is not None and view.read:
        months = view.months_read()
        notes.append(f"read {len(view.read)} archived partitions ({_months(months)}) from"
                     f" {view.folder} with the hot ledger")  # fmt: skip
    if unread:
        notes.append(f"note: {len(unread)} archived months ({_months(unread)}) not read: "
                     + ("the hot ledger only; give --archive DIR to read them too"
                        if view is None else f"{view.folder} does not hold them"))  # fmt: skip
    return "\n".join(notes) or None


def _months(months: list[str]) -> str:
    return ", ".join(months) if len(months) <= 4 else f"{months[0]} … {months[-1]}"
