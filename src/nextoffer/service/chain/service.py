"""The tamper-evident ledger: the sealer, signed checkpoints, verification, inclusion proofs.

**Sealing** is never on the decision path: the sealer (``serve`` runs it every
``seal_seconds``; ``nextoffer ledger seal`` once) reads each ledger table's rows after its
chain's head, up to the newest settled ``seq``, and appends their chain entries
(``nextoffer.core.chain``). It reads and hashes outside any write transaction, then takes
the sealers' turn (a row lock) and appends only if no other sealer moved the head
meanwhile: one chain per table, never a fork.

**Checkpoints**: when ``checkpoint_rows`` entries were sealed since the last one, or
``checkpoint_seconds`` passed with something new, the sealer signs (Ed25519, the key file
``checkpoint_key``) the RFC 6962 tree head of each table's chain (size, root, last seq)
with the hash of the chain's entry at that size (its head) and writes it to
``checkpoint_dir`` (one JSON file per checkpoint) and ``ledger_checkpoints``.

**Verification** recomputes every row's digest and every link, and reports per table the
first row modified, deleted, inserted or reordered (by ``seq``), then checks the chain
against each checkpoint's size (a truncated tail) and head: the links fix every entry
before a head, so an entry that differs from the signed head means the chain was rewritten
from a row on. (Checkpoints signed before they carried heads are checked by their root:
the Merkle tree grown from every entry's hash.) The root serves inclusion proofs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.orm import Session

from ...core.chain import GENESIS, digest, link
from ...core.merkle import Frontier, chunk_root, chunked_inclusion_path
from ..archive import service as archive
from ..db import Database
from ..errors import Conflict, InvalidInput, NotFound
from . import repository
from .repository import KEYED_LEDGERS, SEQ_LEDGERS, Entry, PageCheck
from .schemas import CheckpointFile, Proof

__all__ = ["CHUNK", "LEDGERS", "LOOK_AHEAD", "PAGE", "READERS", "SEAL_BATCH", "Checkpoint", "LedgerCheck", "Problem",
           "Verification", "checkpoint", "generate_key", "key_id", "load_checkpoints",
           "load_private_key", "load_public_key", "proof", "seal", "stored_checkpoints", "verify"]  # fmt: skip

CHUNK = 1_024  # entries per chunk of a chain's Merkle tree whose root the chain keeps
SEAL_BATCH = 20_000  # rows per table per seal (a seal's write transaction is short)
PAGE = 20_000  # chain entries (and their rows) per page while verifying
READERS = 2  # connections checking (PostgreSQL) or reading pages at once while verifying
LOOK_AHEAD = 1_000_000  # entries read past a modified row for the row its content came from
LEDGERS = (*SEQ_LEDGERS, *KEYED_LEDGERS)
_T = TypeVar("_T")


# -- keys


def key_id(public: Ed25519PublicKey) -> str:
    """A key's id: the first 16 hex digits of the SHA-256 of its raw 32 bytes."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_key(path: Path) -> str:
    """Write a new Ed25519 private key to ``path`` (PEM, mode 600) and its public key to
    ``path.pub``; the key's id."""
    public_path = path.with_name(path.name + ".pub")
    for p in (path, public_path):
        if p.exists():
            raise Conflict(f"{p} exists already: not overwriting a key")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )  # fmt: skip
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as f:
        f.write(private)
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key_id(key.public_key())


def _read(path: Path, field: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput.one(field, f"{path}: {exc.strerror or exc}") from None


def load_private_key(path: Path, field: str = "checkpoint_key") -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(_read(path, field), password=None)
    except (ValueError, TypeError) as exc:
        raise InvalidInput.one(
            field, f"{path}: not an unencrypted PEM private key ({exc})"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput.one(field, f"{path}: not an Ed25519 key")
    return key


def load_public_key(path: Path, field: str = "public_key") -> Ed25519PublicKey:
    """A public key file, or the public half of a private key file."""
    data = _read(path, field)
    if b"PRIVATE KEY" in data:
        return load_private_key(path, field).public_key()
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise InvalidInput.one(field, f"{path}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput.one(field, f"{path}: not an Ed25519 key")
    return key


# -- sealing


def _plan(
    session: Session, ledger: str, upto: Mapping[str, int], limit: int
) -> tuple[int, list[Entry]]:
    """The chain entries for ``ledger``'s rows not yet sealed (at most ``limit``), and the
    head's ``n`` they follow."""
    top = repository.head(session, ledger)
    n, prev = (top[0], top[4]) if top else (0, GENESIS)
    start, entries = n, list[Entry]()
    if ledger in KEYED_LEDGERS:
        sealed = repository.chained_keys(session, ledger)
        for key, d in repository.keyed_digests(session, ledger):
            if key in sealed:
                continue
            n += 1
            prev = link(prev, n, d)
            entries.append((n, n, key, d, prev))
            if len(entries) >= limit:
                break
        return start, entries
    after = top[1] if top else 0
    for seq, d in repository.row_digests(session, ledger, after, upto[ledger], limit):
        n += 1
        prev = link(prev, seq, d)
        entries.append((n, seq, None, d, prev))
    return start, entries


def _chunks(
    session: Session, ledger: str, start: int, entries: Sequence[Entry]
) -> dict[int, bytes]:
    """The roots of the chunks that ``entries`` (following entry ``start``) complete, by
    the completing entry's n: each chunk's hashes, the earlier ones read from the chain."""
    new = {n: h for n, _, _, _, h in entries}
    roots = {}
    for n in range(start - start % CHUNK + CHUNK, start + len(entries) + 1, CHUNK):
        first = n - CHUNK  # the chunk is entries first + 1 .. n
        stored = (
            list(repository.chain_hashes(session, ledger, first, start)) if first < start else []
        )
        roots[n] = chunk_root(stored + [new[i] for i in range(max(first, start) + 1, n + 1)])
    return roots


def seal(db: Database, limit: int = SEAL_BATCH) -> dict[str, int]:
    """Chain the ledger's settled rows not sealed yet (at most ``limit`` per table); how
    many per table (another sealer's turn, or writers that did not settle: none)."""
    with db.read() as session:
        upto = repository.settled(session)
    if upto is None:
        return {}
    plans = {}
    for ledger in LEDGERS:  # a transaction each: never a lock on two ledger tables at once
        with db.read() as session:  # (creating a month's partitions locks them all)
            start, entries = _plan(session, ledger, upto, limit)
            plans[ledger] = (start, entries, _chunks(session, ledger, start, entries))
    done: dict[str, int] = {}
    with db.transaction() as session:
        repository.lock_sealer(session)
        for ledger, (start, entries, chunks) in plans.items():
            if not entries:
                continue
            top = repository.head(session, ledger)
            if (top[0] if top else 0) != start:  # another sealer went first: its turn
                continue
            repository.append(session, ledger, entries, chunks)
            done[ledger] = len(entries)
    return done


# -- checkpoints


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head: ``signed`` is the exact text signed (JSON: number, time, key_id,
    and per ledger table its chain's size, root and last seq)."""

    signed: str
    signature: str
    key_id: str
    origin: str = "database"

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.signed)
        return body

    def check(self, public: Ed25519PublicKey) -> bool:
        try:
            public.verify(bytes.fromhex(self.signature), self.signed.encode())
        except (InvalidSignature, ValueError):
            return False
        return True

    def file(self) -> CheckpointFile:
        return {"signed": self.signed, "signature": self.signature, "key_id": self.key_id}


def _encode(body: Mapping[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def checkpoint(
    db: Database,
    key: Ed25519PrivateKey,
    now: dt.datetime,
    directory: Path | None = None,
    every_rows: int = 0,
    every_seconds: float = 0.0,
) -> Checkpoint | None:
    """Sign and store a checkpoint of every table's chain, when ``every_rows`` entries were
    sealed since the last one or ``every_seconds`` passed (0, 0: whenever anything is new);
    None when not due. Written to ``directory`` (if any) before the database commits."""
    with db.transaction() as session:
        repository.lock_sealer(session)
        last = repository.latest_checkpoint(session)
        kept = last["frontier"] if last else {}
        trees = {ledger: Frontier(kept[ledger]["size"], [bytes.fromhex(h) for h in kept[ledger]["nodes"]])
                 if ledger in kept else Frontier() for ledger in LEDGERS}  # fmt: skip
        heads = {ledger: repository.head(session, ledger) for ledger in LEDGERS}
        sizes = {ledger: top[0] if top else 0 for ledger, top in heads.items()}
        last_seqs = {ledger: top[1] if top else 0 for ledger, top in heads.items()}
        grown = sum(sizes[ledger] - trees[ledger].size for ledger in LEDGERS)
        if grown == 0:
            return None
        if last is not None:
            age = (now - _aware(last["created_at"])).total_seconds()
            if not (every_rows and grown >= every_rows) and age < every_seconds:
                return None
        for ledger, tree in trees.items():
            for h in repository.chain_hashes(session, ledger, tree.size, sizes[ledger]):
                tree.append(h)
        number = (last["number"] if last else 0) + 1
        kid = key_id(key.public_key())
        heads_hex = {ledger: (top[4] if top else GENESIS).hex() for ledger, top in heads.items()}
        body = {
            "number": number, "time": now.astimezone(dt.UTC).isoformat(), "key_id": kid,
            "ledgers": {ledger: {"size": tree.size, "root": tree.root().hex(),
                                 "last_seq": last_seqs[ledger], "head": heads_hex[ledger]}
                        for ledger, tree in trees.items()},
        }  # fmt: skip
        signed = _encode(body)
        made = Checkpoint(signed, key.sign(signed.encode()).hex(), kid)
        repository.insert_checkpoint(session, {
            "number": number, "signed": signed, "signature": made.signature, "key_id": kid,
            "frontier": {ledger: {"size": t.size, "nodes": [h.hex() for h in t.nodes]}
                         for ledger, t in trees.items()},
            "created_at": now,
        })  # fmt: skip
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            target = directory / f"checkpoint-{number:08d}.json"
            partial = target.with_suffix(".tmp")
            partial.write_text(json.dumps(made.file(), indent=1) + "\n", encoding="utf-8")
            os.replace(partial, target)
    return made


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def load_checkpoints(directory: Path) -> list[Checkpoint]:
    """The checkpoint files of ``directory`` (``checkpoint-*.json``), by number."""
    if not directory.is_dir():
        raise InvalidInput.one("checkpoints", f"{directory} is not a folder")
    found = []
    for path in sorted(directory.glob("checkpoint-*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            found.append(Checkpoint(data["signed"], data["signature"], data["key_id"], str(path)))
            found[-1].body["ledgers"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidInput.one("checkpoints", f"{path}: not a checkpoint ({exc})") from None
    return sorted(found, key=lambda c: int(c.body["number"]))


def stored_checkpoints(db: Database) -> list[Checkpoint]:
    with db.read() as session:
        return [Checkpoint(c["signed"], c["signature"], c["key_id"])
                for c in repository.checkpoints(session)]  # fmt: skip


# -- verification


@dataclass(frozen=True)
class Problem:
    """What verification found wrong, first per table: ``kind`` is modified, deleted,
    inserted, reordered, chain (an entry of the chain itself altered), checkpoint (the
    chain's root differs from a signed one), truncated, or signature."""

    ledger: str
    seq: int | None
    kind: str
    message: str


@dataclass
class LedgerCheck:
    ledger: str
    sealed: int = 0  # chain entries read
    rows: int = 0  # rows read and checked against their entry
    archived: int = 0  # sealed rows gone with their archived months (``ledger archive``)
    first_checked: int | None = None  # the first seq whose row was checked
    unsealed: int = 0  # rows after the chain's head (not sealed yet)
    checkpoint_size: int | None = None  # the last checkpoint's size of this table's chain
    problem: Problem | None = None


@dataclass
class Verification:
    ledgers: list[LedgerCheck] = field(default_factory=list)
    checkpoints: int = 0  # checkpoints whose roots were checked
    latest: int | None = None  # the newest checkpoint's number
    signatures: str = "unchecked"  # checked | unchecked (no public key)
    problems: list[Problem] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(c.rows for c in self.ledgers)


def _pages(
    fetch: Callable[[int], Sequence[Any]], key: Callable[[Any], int], after: int = 0
) -> Iterator[Any]:
    while True:
        page = fetch(after)
        yield from page
        if len(page) < PAGE:
            return
        after = key(page[-1])


def _in_order(tasks: Iterable[Callable[[], _T]], readers: int) -> Iterator[_T]:
    """The results of ``tasks`` in their order, ``readers`` of them running at once (each
    on a connection of its own) and at most ``2 * readers`` ahead of the caller."""
    if readers <= 1:
        for task in tasks:
            yield task()
        return
    pool = ThreadPoolExecutor(readers, thread_name_prefix="ledger-verify")
    pending: deque[Future[_T]] = deque()
    try:
        for task in tasks:
            pending.append(pool.submit(task))
            if len(pending) > 2 * readers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _signed_by(good: Sequence[Checkpoint], ledger: str) -> tuple[_Signed, _Signed]:
    """What the checkpoints signed of ``ledger``'s chain, by its size then: the head
    entry's hash, and the Merkle root of those signed before checkpoints carried heads."""
    heads: _Signed = {}
    roots: _Signed = {}
    for cp in good:
        tree = cp.body["ledgers"].get(ledger)
        if tree is not None and tree["size"] > 0:
            number = int(cp.body["number"])
            if "head" in tree:
                heads[int(tree["size"])] = (number, tree["head"])
            else:
                roots[int(tree["size"])] = (number, tree["root"])
    return heads, roots


def verify(
    db: Database,
    checkpoints: Sequence[Checkpoint] = (),
    public: Ed25519PublicKey | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    readers: int = READERS,
) -> Verification:
    """Re-read the ledger and its chain; see the module's docstring."""
    result = Verification()
    good: list[Checkpoint] = []
    for cp in checkpoints:
        if public is not None and not cp.check(public):
            result.problems.append(Problem("checkpoints", None, "signature", f"checkpoint "
                f"{cp.body.get('number')} ({cp.origin}): its signature does not verify with the"
                f" public key {key_id(public)}"))  # fmt: skip
            continue
        good.append(cp)
    result.signatures = "checked" if public is not None else "unchecked"
    result.checkpoints = len(good)
    result.latest = int(good[-1].body["number"]) if good else None
    sqlite = db.is_sqlite
    # what the ledger tables are asked, each in a short transaction of its own: a long one
    # on a partitioned table would keep the partition keeper waiting (the rows are read a
    # page a transaction, and the chain is not a ledger table)
    with db.read() as session:
        archived = {} if sqlite else archive.archived_seqs(session)
    for ledger in LEDGERS:
        heads, roots = _signed_by(good, ledger)
        check = LedgerCheck(ledger)
        walk = _Walk(ledger, check, heads, roots, archived.get(ledger, 0),
                     None if sqlite else _legacy_digests(db, ledger), progress)  # fmt: skip
        with db.read() as session:
            top = repository.head(session, ledger)
            bound = top[0] if top else 0
            if ledger in KEYED_LEDGERS:
                walk.keyed(session, bound)
            else:
                walk.pages(db, session, bound, 1 if sqlite else readers)
        if check.problem is None and ledger in SEQ_LEDGERS:
            with db.read() as session:
                check.unsealed = repository.count_after(
                    session, ledger, walk.last_seq if check.sealed else None
                )
        last = good[-1].body["ledgers"].get(ledger) if good else None
        if last is not None:
            check.checkpoint_size = int(last["size"])
            if check.problem is None and check.sealed < check.checkpoint_size:
                check.problem = Problem(ledger, int(last["last_seq"]), "truncated",
                    f"{ledger}: the chain has {check.sealed:,} entries, checkpoint "
                    f"{good[-1].body['number']} signed {check.checkpoint_size:,} (up to seq "
                    f"{last['last_seq']}): the tail after entry {check.sealed:,} is gone")  # fmt: skip
        if check.problem is not None:
            result.problems.append(check.problem)
        result.ledgers.append(check)
    return result


def _legacy_digests(db: Database, ledger: str) -> Callable[[str | None, int], bytes | None]:
    """PostgreSQL: a row's digest as ``core.chain.canonical`` encodes it, the encoding the
    chain was sealed with before revision 0021 (whose digests the server's text does not
    give): asked only where the server's digest differs from the entry's, and read a page
    at a time (a keyed table whole), each in a short transaction."""
    page: dict[str | int, bytes] = {}
    keyed = ledger in KEYED_LEDGERS

    def digest_of(key: str | None, seq: int) -> bytes | None:
        wanted = key or "" if keyed else seq
        if wanted not in page:
            page.clear()
            with db.read() as session:
                if keyed:
                    page.update(repository.keyed_digests(session, ledger, in_python=True))
                else:
                    page.update(repository.row_digests(session, ledger, seq - 1, seq - 1 + PAGE,
                                                       PAGE, in_python=True))  # fmt: skip
        return page.get(wanted)

    return digest_of


_FIRST = -(2**62)  # below any seq a row could be given
_Signed = dict[int, tuple[int, str]]  # a chain's size -> (checkpoint number, hash hex)
# a page of a ``seq`` ledger walked in Python: its chain entries and its rows' digests
_Rows = tuple[list[Entry], list[tuple[int, bytes]]]


def _page_rows(session: Session, ledger: str, after: int, upto: int) -> _Rows:
    """The chain entries numbered ``(after, upto]`` and the digests of the rows they seal,
    seqs ``(seq of entry after, seq of the last entry]``."""
    entries = repository.chain_entries(session, ledger, max(after - 1, 0), upto - after + 1, upto)
    # the first page's rows: any seq up to its last entry's (a row forged at 0 too)
    lo = entries.pop(0)[1] if after and entries and entries[0][0] == after else _FIRST
    hi = entries[-1][1] if entries else lo
    return entries, repository.row_digests(session, ledger, lo, hi, max(hi - lo, 0))


@dataclass
class _Walk:
    """One table's verification under way: its chain walked up to entry ``check.sealed``
    (hash ``prev``, row ``last_seq``).

    A ``seq`` ledger is walked a page of ``PAGE`` entries at a time. On PostgreSQL the
    server checks a page itself (``repository.page_check``), and only a page it finds
    wrong is walked here, entry by entry, to name the first row that is; so are SQLite's
    pages, the keyed ledgers, and the pages up to the last checkpoint that signed a Merkle
    root but no head (its tree is grown here, from every entry's hash)."""

    ledger: str
    check: LedgerCheck
    heads: _Signed
    roots: _Signed
    archived_upto: int
    legacy: Callable[[str | None, int], bytes | None] | None
    progress: Callable[[str, int, int], None] | None
    prev: bytes = GENESIS
    last_seq: int = 0
    previous_size: int = 0  # the last checkpoint's size passed
    range_first: int | None = None  # the first seq after it
    tree: Frontier = field(default_factory=Frontier)

    def pages(self, db: Database, session: Session, bound: int, readers: int) -> None:
        """Walk a ``seq`` ledger's chain up to entry ``bound``, ``readers`` pages at once."""
        grown = max(self.roots, default=0)  # the pages up to it are walked here

        def task(after: int) -> Callable[[], PageCheck | _Rows]:
            upto = min(after + PAGE, bound)
            wanted = {after + 1}.union(*({s, s + 1} for s in self.heads if after < s <= upto))

            def read() -> PageCheck | _Rows:
                with db.read() as reading:
                    if not db.is_sqlite and after >= grown:
                        return repository.page_check(reading, self.ledger, after, upto,
                                                     self.archived_upto, wanted)  # fmt: skip
                    return _page_rows(reading, self.ledger, after, upto)

            return read

        starts = range(0, bound, PAGE)
        for after, page in zip(starts, _in_order(map(task, starts), readers), strict=True):
            upto = min(after + PAGE, bound)
            if isinstance(page, PageCheck):
                if self._take(page, after, upto):
                    if self.progress is not None:
                        self.progress(self.ledger, upto, bound)
                    continue
                with db.read() as reading:
                    page = _page_rows(reading, self.ledger, after, upto)
            entries, rows = page
            follow = _pages(lambda a: repository.chain_entries(session, self.ledger, a, PAGE,
                                                               bound), lambda e: e[0], upto)  # fmt: skip
            self._walk(chain(entries, follow), iter(rows), None, upto)
            if self.check.problem is not None:
                return
            if self.progress is not None:
                self.progress(self.ledger, upto, bound)

    def keyed(self, session: Session, bound: int) -> None:
        """Walk a keyed ledger's chain (up to entry ``bound``) against its rows."""
        entries = _pages(lambda after: repository.chain_entries(session, self.ledger, after,
                                                                PAGE, bound), lambda e: e[0])  # fmt: skip
        by_key = dict(repository.keyed_digests(session, self.ledger))
        self._walk(entries, iter(()), by_key, bound)
        if self.check.problem is None:
            self.check.unsealed = len(by_key)
            if self.progress is not None:
                self.progress(self.ledger, self.check.sealed, bound)

    def _take(self, page: PageCheck, after: int, upto: int) -> bool:
        """Take a page the server found clean as walked; False (nothing taken): it did not,
        or a checkpoint's head in it differs, for ``_walk`` to name."""
        sizes = sorted(s for s in self.heads if after < s <= upto)
        if not page.clean or any(page.entries[s][1].hex() != self.heads[s][1] for s in sizes):
            return False
        if sizes:
            self.previous_size, self.range_first = sizes[-1], None
        if self.range_first is None and self.previous_size < upto:
            self.range_first = page.entries[self.previous_size + 1][0]
        check = self.check
        check.sealed = upto
        check.rows += page.checked
        check.archived += page.archived
        check.first_checked = check.first_checked or page.first_checked
        self.last_seq, self.prev = page.entries[upto]
        return True

    def _signed(self, n: int, seq: int, h: bytes) -> bool:
        """Entry ``n`` (at ``seq``, hash ``h``) against the checkpoints of that size: its
        hash against their head, the tree grown to it against their root; False: it differs
        (``check.problem`` says how)."""
        if n <= max(self.roots, default=0):  # the tree grows as far as a root was signed
            self.tree.append(h)
        for signed, ours in ((self.heads, h), (self.roots, None)):
            if n not in signed:
                continue
            number, expected = signed[n]
            if (ours if ours is not None else self.tree.root()).hex() != expected:
                self.check.problem = Problem(self.ledger, seq, "checkpoint", f"{self.ledger}: "
                    f"entries {self.previous_size + 1:,}..{n:,} (seq {self.range_first}..{seq}) "
                    f"differ from signed checkpoint {number} (a row and the chain rewritten"
                    " together)")  # fmt: skip
                return False
        if n in self.heads or n in self.roots:
            self.previous_size, self.range_first = n, None
        return True

    def _walk(
        self,
        entries: Iterator[Entry],
        rows: Iterator[tuple[int, bytes]],
        by_key: dict[str, bytes] | None,
        stop: int,
    ) -> None:
        """Walk ``entries`` up to entry ``stop`` against the rows' digests (``by_key``: a
        keyed ledger's rows); at the first problem, ``check.problem`` names it. ``entries``
        may run past ``stop``: a modified row's content is looked for there."""
        check, ledger, keyed = self.check, self.ledger, by_key is not None
        row = next(rows, None)
        found: tuple[int, bytes, str] | None = None  # a modified row: its seq and digest now
        later: dict[bytes, int] = {}
        current: bytes | None  # the row's digest now (None: archived)
        for n, seq, key, d, h in entries:
            if found is not None:  # only looking for where the modified row's content came from
                later[d] = seq
                if found[1] in later or len(later) >= LOOK_AHEAD:
                    break
                continue
            check.sealed = n
            where = f"{ledger} {key} (entry {n})" if keyed else f"{ledger} seq {seq}"
            if self.range_first is None:
                self.range_first = seq
            if link(self.prev, seq, d) != h:
                check.problem = Problem(ledger, seq, "chain", f"{where}: the chain's entry does"
                                        " not follow from the one before (the chain was edited)")  # fmt: skip
                return
            if by_key is not None:
                current = by_key.pop(key or "", None)
                if current is None:
                    check.problem = Problem(
                        ledger, seq, "deleted", f"{where}: sealed, not in the database"
                    )
                    return
            else:
                if row is not None and row[0] < seq:
                    inserted = row[0]
                    check.problem = Problem(ledger, inserted, "inserted", f"{ledger} seq {inserted}:"
                        f" a row that was never sealed, between sealed seq {self.last_seq} and {seq}")  # fmt: skip
                    return
                if row is None or row[0] > seq:
                    if seq <= self.archived_upto:  # its month was archived: gone, not deleted
                        check.archived += 1
                        current = None
                    else:
                        check.problem = Problem(ledger, seq, "deleted",
                                                f"{ledger} seq {seq}: sealed, not in the database")  # fmt: skip
                        return
                else:
                    current = row[1]
                    row = next(rows, None)
            if current is not None:
                check.first_checked = check.first_checked or seq
                check.rows += 1
                if current != d and (self.legacy is None or self.legacy(key, seq) != d):
                    found = (seq, current, where)
                    continue
            self.prev, self.last_seq = h, seq
            if not self._signed(n, seq, h):
                return
            if keyed and self.progress is not None and n % PAGE == 0:
                self.progress(ledger, n, stop)
            if n >= stop:
                break
        if found is not None:
            seq, now, where = found
            source = later.get(now)
            if source is not None and source != seq:
                check.problem = Problem(ledger, seq, "reordered", f"{where}: holds the row"
                    f" sealed at {'entry' if keyed else 'seq'} {source} (rows moved)")  # fmt: skip
            else:
                check.problem = Problem(
                    ledger, seq, "modified", f"{where}: its content differs from what was sealed"
                )


# -- proofs


def proof(session: Session, decision_id: str) -> Proof:
    """An inclusion proof of the decision ``decision_id`` against the latest checkpoint."""
    row = repository.decision_text(session, decision_id)
    if row is None:
        raise NotFound(f"no decision {decision_id!r}")
    sealed = repository.entry(session, "decisions", row.seq)
    if sealed is None:
        raise Conflict(f"decision {decision_id!r} is not sealed yet: the sealer chains new "
                       "decisions within seconds; retry")  # fmt: skip
    n, seq, _, sealed_digest, leaf = sealed
    if digest(row.text) != sealed_digest:  # sealed before revision 0021: in Python's encoding
        row = repository.decision_text(session, decision_id, in_python=True) or row
    latest = repository.latest_checkpoint(session)
    cp = (
        None
        if latest is None
        else Checkpoint(latest["signed"], latest["signature"], latest["key_id"])
    )
    tree = None if cp is None else cp.body["ledgers"].get("decisions")
    if cp is None or tree is None or int(tree["size"]) < n:
        raise Conflict(f"decision {decision_id!r} is sealed but in no checkpoint yet: retry after"
                       " the next checkpoint")  # fmt: skip
    size = int(tree["size"])
    roots = {
        m // CHUNK - 1: r for m, r in repository.chunk_roots(session, "decisions", size).items()
    }

    def leaves(j: int) -> list[bytes]:
        return list(
            repository.chain_hashes(session, "decisions", j * CHUNK, min((j + 1) * CHUNK, size))
        )

    path = chunked_inclusion_path(n - 1, size, CHUNK, roots, leaves)
    previous = (
        next(repository.chain_hashes(session, "decisions", n - 2, n - 1)) if n > 1 else GENESIS
    )
    return {
        "decision_id": decision_id,
        "seq": seq,
        "index": n - 1,
        "row": row.text.decode(),
        "columns": row.columns,
        "previous": previous.hex(),
        "leaf": leaf.hex(),
        "path": [p.hex() for p in path],
        "checkpoint": cp.file(),
    }
