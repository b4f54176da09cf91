"""``nextoffer ledger``: archive whole old partitions to Parquet, and check an archive; seal
the ledger's hash chain, sign checkpoints, make their key, and verify the ledger."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .output import fail, out

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ..service.archive.service import ArchiveView
    from ..service.chain.service import Checkpoint
    from ..service.db import Database

__all__ = [
    "ArchiveDir",
    "archive",
    "archive_note",
    "checkpoint",
    "keygen",
    "ledger_app",
    "seal",
    "verify",
    "verify_archive",
]

ledger_app = typer.Typer(
    help="The ledger at volume: archive old partitions (PostgreSQL), check an archive; its"
    " hash chain: seal, sign checkpoints, verify.",
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


@ledger_app.command("keygen")
def keygen(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="The private key file to write.")],
) -> None:
    """Write a new Ed25519 key pair for signing checkpoints: FILE (private, mode 600; point
    NEXTOFFER_CHECKPOINT_KEY at it) and FILE.pub (give it to whoever verifies)."""
    from ..service.chain import service
    from ..service.errors import ServiceError

    try:
        kid = service.generate_key(path)
    except ServiceError as exc:
        fail(exc.message)
    out.print(f"wrote {path} (private) and {path}.pub (public); key id {kid}", markup=False)


@ledger_app.command("seal")
def seal() -> None:
    """Chain every settled ledger row not sealed yet (what `serve`'s sealer does every
    second), then sign a checkpoint if NEXTOFFER_CHECKPOINT_KEY is set and anything is new."""
    from ..service.chain import service
    from ..service.config import load_settings
    from .service import open_database

    settings = load_settings()
    key = _signing_key(settings.checkpoint_key)
    db = open_database()
    try:
        total: dict[str, int] = {}
        while True:
            done = service.seal(db)
            for ledger, n in done.items():
                total[ledger] = total.get(ledger, 0) + n
            if not any(n >= service.SEAL_BATCH for n in done.values()):
                break
        made = _sign(db, key, settings.checkpoint_dir) if key is not None else None
    finally:
        db.dispose()
    sealed = ", ".join(f"{ledger} {n:,}" for ledger, n in sorted(total.items()))
    out.print(f"sealed: {sealed}" if sealed else "sealed: nothing new", markup=False)
    if made is not None:
        out.print(f"signed checkpoint {made.body['number']}", markup=False)


@ledger_app.command("checkpoint")
def checkpoint() -> None:
    """Sign a checkpoint of the chain now (NEXTOFFER_CHECKPOINT_KEY; the file goes to
    NEXTOFFER_CHECKPOINT_DIR and the database), if anything was sealed since the last."""
    from ..service.config import load_settings
    from .service import open_database

    settings = load_settings()
    key = _signing_key(settings.checkpoint_key)
    if key is None:
        fail("no signing key: set NEXTOFFER_CHECKPOINT_KEY (`nextoffer ledger keygen FILE`)")
    db = open_database()
    try:
        made = _sign(db, key, settings.checkpoint_dir)
    finally:
        db.dispose()
    out.print(f"signed checkpoint {made.body['number']}" if made else
              "nothing sealed since the last checkpoint", markup=False)  # fmt: skip


def _signing_key(path: str) -> Ed25519PrivateKey | None:
    from ..service.chain import service
    from ..service.errors import ServiceError

    if not path:
        return None
    try:
        return service.load_private_key(Path(path))
    except ServiceError as exc:
        fail(f"setting {exc.message}")


def _sign(db: Database, key: Ed25519PrivateKey, folder: str) -> Checkpoint | None:
    from ..service.chain import service

    return service.checkpoint(db, key, dt.datetime.now(dt.UTC), Path(folder) if folder else None)


@ledger_app.command("verify")
def verify(
    checkpoints: Annotated[
        Path | None,
        typer.Option(
            "--checkpoints",
            metavar="DIR",
            help="The checkpoint files' folder (default: the database's copies).",
        ),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            metavar="FILE",
            help="The signer's public key (default: NEXTOFFER_CHECKPOINT_KEY's).",
        ),
    ] = None,
) -> None:
    """Re-read the ledger and its hash chain: name, per table, the first row modified,
    deleted, inserted or reordered (by seq), and a chain cut short or rewritten against the
    signed checkpoints. Exit 1 on any problem."""
    import time

    from ..service.chain import service
    from ..service.config import load_settings
    from ..service.errors import ServiceError
    from .output import err, progress
    from .service import open_database

    settings = load_settings()
    try:
        if public_key is not None:
            public = service.load_public_key(public_key)
        elif settings.checkpoint_key:
            public = service.load_public_key(Path(settings.checkpoint_key), "checkpoint_key")
        else:
            public = None
        found = service.load_checkpoints(checkpoints) if checkpoints is not None else None
    except ServiceError as exc:
        fail(exc.message)
    db = open_database()
    started = time.perf_counter()
    try:
        signed = found if found is not None else service.stored_checkpoints(db)
        with progress(err) as bar:
            tasks: dict[str, Any] = {}

            def advance(ledger: str, done: int, total: int) -> None:
                if ledger not in tasks:
                    tasks[ledger] = bar.add_task(ledger, total=total)
                bar.update(tasks[ledger], completed=done)

            result = service.verify(db, signed, public, advance)
    finally:
        db.dispose()
    seconds = time.perf_counter() - started
    source = str(checkpoints) if checkpoints is not None else "the database's copies"
    for check in result.ledgers:
        notes = [f"{check.rows:,} rows checked of {check.sealed:,} sealed"]
        if check.archived:
            notes.append(f"{check.archived:,} sealed rows before seq {check.first_checked} not in"
                         " the database (archived months): their chain links checked, not"
                         " their rows")  # fmt: skip
        if check.unsealed:
            notes.append(f"{check.unsealed:,} newer rows not sealed yet")
        if check.checkpoint_size is not None:
            notes.append(f"last checkpoint: {check.checkpoint_size:,}")
        out.print(f"{check.ledger}: {'; '.join(notes)}", markup=False)
    signatures = ("signatures checked" if result.signatures == "checked"
                  else "signatures NOT checked (no public key: --public-key FILE)")  # fmt: skip
    out.print(
        f"checkpoints: {result.checkpoints} from {source}"
        + (f", the newest {result.latest}" if result.latest else "") + f"; {signatures}",
        markup=False,
    )  # fmt: skip
    for problem in result.problems:
        out.print(f"problem: {problem.kind}: {problem.message}", markup=False)
    rate = result.rows / seconds if seconds > 0 else 0.0
    if result.problems:
        fail(f"{len(result.problems)} problems in the ledger ({result.rows:,} rows read in"
             f" {seconds:.1f} s)")  # fmt: skip
    out.print(f"ok: {result.rows:,} rows in {seconds:.1f} s ({rate:,.0f} rows/s), every"
              " hash and link matches", markup=False)  # fmt: skip
