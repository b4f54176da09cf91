"""The live snapshot of one worker, rebuilt when a newer version is published."""

from __future__ import annotations

import logging
import threading
import time

from ...core.decision import Snapshot, SnapshotError, build_snapshot
from ..db import Database
from ..errors import NotFound, Unavailable
from . import repository
from .schemas import SnapshotData

__all__ = ["SnapshotCache"]

log = logging.getLogger("nextoffer.snapshots")


class SnapshotCache:
    """The live snapshot of one worker: rebuilt when a newer version is published.

    ``get()`` looks at the newest version number at most every ``poll`` seconds (one indexed
    query), so every worker swaps to a new snapshot within about ``poll`` seconds of a
    publish, without a restart.

    A stored snapshot was published: it loads even where a newer check would refuse it. A
    rule whose trigger the cost bound refuses (published before the bound) is loaded
    disabled: it never fires or runs, a warning is logged, and the API and the dashboard show
    it as needing attention. Should a stored snapshot not load at all, the worker logs it
    once and keeps serving the one it has (a 503 when it has none), without building it
    again at every request.
    """

    def __init__(self, db: Database, poll: float = 0.25) -> None:
        self.db, self.poll = db, poll
        self._lock = threading.Lock()
        self._seq = -1
        self._snapshot: Snapshot | None = None
        self._checked = 0.0
        self._unloadable: tuple[int, str] | None = None  # the newest seq that did not load

    def cached(self) -> Snapshot | None:
        """The snapshot when it was checked within ``poll`` seconds, else None (no query:
        the event loop may call it; ``get()`` may read the database)."""
        if self._snapshot is not None and time.monotonic() - self._checked < self.poll:
            return self._snapshot
        return None

    @property
    def loaded(self) -> Snapshot | None:
        """The snapshot this worker serves, however long ago it was checked (no query)."""
        return self._snapshot

    def get(self, check: bool = False) -> Snapshot:
        """The live snapshot, checked again when ``check`` or ``poll`` seconds have passed."""
        snapshot = None if check else self.cached()
        if snapshot is not None:
            return snapshot
        with self._lock:
            snapshot = None if check else self.cached()  # another thread may have just checked
            if snapshot is not None:
                return snapshot
            with self.db.read() as session:
                seq = repository.newest_seq(session)
                if seq is None:
                    raise NotFound("nothing is published yet: POST /v1/catalog/publish")
                if seq != self._seq and (self._unloadable is None or self._unloadable[0] != seq):
                    self._load(seq, repository.spec_at(session, seq))
            self._checked = time.monotonic()
            if self._snapshot is None:
                assert self._unloadable is not None
                raise Unavailable(f"the live snapshot does not load: {self._unloadable[1]}")
            return self._snapshot

    def _load(self, seq: int, spec: SnapshotData) -> None:
        version = spec.get("version")
        try:
            snapshot = build_snapshot(spec, published=True)
        except SnapshotError as exc:
            self._unloadable = (seq, str(exc).splitlines()[0])
            kept = self._snapshot.version if self._snapshot is not None else "none"
            log.error("snapshot %s does not load; serving %s meanwhile:\n%s", version, kept, exc)
            return
        self._snapshot, self._seq, self._unloadable = snapshot, seq, None
        for rule in snapshot.disabled.values():
            log.warning(
                "snapshot %s: rule %s v%d is disabled (it never fires): %s; deactivate it"
                " (nextoffer rules deactivate %s) or approve a revision within the bound",
                version, rule.id, rule.revision, "; ".join(rule.problems), rule.id,
            )  # fmt: skip
