"""The running strategy experiments of one worker, their arms compiled ahead of time.

``ArmCache.refresh`` (run in a thread: when an approver starts or stops an experiment on
this worker, and every ``poll`` seconds by the app's background check) reads the running
experiments and compiles each arm's snapshot against the live one: a strategy arm is the
live snapshot with the arm's strategy on the experiment's channels; a snapshot arm is the
stored version with the live holdout (so that the control group is the same in every
arm); the champion (``live``) is the live snapshot itself. Nothing is compiled again
unless the live snapshot or the running experiments changed.

``ArmCache.choose`` is what the decision path calls: a dictionary lookup and one hash, no
query and no compile. A request gets an arm when an experiment runs on its channel, it
names a customer, and the customer is not in the holdout's control group (decided first,
as always, and untouched); otherwise the live snapshot decides, outside every arm. A
request without a customer id cannot be split deterministically: it gets the champion
(the live snapshot), outside the experiment. Between a publish and the next refresh
(within ``poll`` seconds) the compiled arms belong to the previous live snapshot: the
decisions meanwhile are the live snapshot's, outside the experiment, rather than a
challenger's on a catalog that is no longer live.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...core.decision import (
    ArmSpec,
    Snapshot,
    SnapshotError,
    StrategyExperimentSpec,
    arm_of,
    assignment,
    build_snapshot,
    with_strategy,
)
from ..db import Database
from ..snapshots import service as snapshots
from ..snapshots.cache import SnapshotCache
from . import repository

__all__ = ["ArmCache", "ArmError", "Arms", "Running", "compile_arms"]

log = logging.getLogger("nextoffer.experiments")


class ArmError(Exception):
    """An arm whose snapshot does not build: its position, name and the build's problems."""

    def __init__(self, index: int, arm: str, problems: list[tuple[str, str]]) -> None:
        self.index, self.arm, self.problems = index, arm, problems
        super().__init__(f"arm {arm}: " + "; ".join(f"{p}: {m}" for p, m in problems))


@dataclass(frozen=True)
class Running:
    """A running experiment and its arms' compiled snapshots (by arm name)."""

    spec: StrategyExperimentSpec
    snapshots: Mapping[str, Snapshot]


@dataclass(frozen=True)
class Arms:
    """What one refresh compiled: for the live snapshot ``live``, the running experiment of
    each channel."""

    live: str
    by_channel: Mapping[str, Running]
    key: tuple[Any, ...] = field(repr=False)


def _stored(spec: Mapping[str, Any], live: Snapshot) -> Snapshot:
    """A stored snapshot version as an arm runs it: with the live holdout."""
    holdout = live.spec.holdout.model_dump(mode="json") if live.spec.holdout else None
    return build_snapshot({**spec, "holdout": holdout}, published=True)


def _compile_arm(
    experiment: StrategyExperimentSpec,
    arm: ArmSpec,
    live: Snapshot,
    stored: Mapping[str, Mapping[str, Any]],
) -> Snapshot:
    """One arm's snapshot (``stored``: the stored specs by version). Raises SnapshotError."""
    if arm.champion:
        return live
    if arm.strategy is not None:
        return build_snapshot(
            with_strategy(live.spec, experiment.channels, arm.strategy), published=True
        )
    assert arm.snapshot is not None
    return _stored(stored[arm.snapshot], live)


def compile_arms(
    experiment: StrategyExperimentSpec, live: Snapshot, stored: Mapping[str, Mapping[str, Any]]
) -> dict[str, Snapshot]:
    """Every arm's snapshot, by name. Raises ArmError naming the arm."""
    out: dict[str, Snapshot] = {}
    for i, arm in enumerate(experiment.arms):
        try:
            out[arm.name] = _compile_arm(experiment, arm, live, stored)
        except SnapshotError as exc:
            problems = [(d.path, d.message) for d in exc.diagnostics]
            raise ArmError(i, arm.name, problems) from None
        except KeyError:
            raise ArmError(
                i, arm.name, [("snapshot", f"no stored snapshot {arm.snapshot!r}")]
            ) from None
    return out


class ArmCache:
    """The running experiments' compiled arms, for the decision path (see the module)."""

    def __init__(self, db: Database, snapshots: SnapshotCache, poll: float = 0.25) -> None:
        self.db, self.live_cache, self.poll = db, snapshots, poll
        self._lock = threading.Lock()
        self._arms: Arms | None = None
        self._failed: set[tuple[str, str]] = set()  # (experiment, live version) logged

    def cached(self) -> Arms | None:
        return self._arms

    def refresh(self, check: bool = False) -> Arms:
        """Compile what changed (nothing, when neither the live snapshot nor the running
        experiments did); an experiment whose arms do not compile against the live
        snapshot is left out (logged once), its customers decided by the live snapshot.
        ``check``: look for a newer live snapshot now (after a promotion published one)."""
        with self._lock:
            live = self.live_cache.get(check=check)
            with self.db.read() as session:
                rows = repository.running(session)
                key = (live.version, tuple((r.id, r.started_at) for r in rows))
                old = self._arms
                if old is not None and old.key == key:
                    return old
                wanted = {a.snapshot for r in rows
                          for a in StrategyExperimentSpec.model_validate(r.definition).arms
                          if a.snapshot is not None and not a.champion}  # fmt: skip
                stored = {v: snapshots.stored_spec(session, v) for v in sorted(wanted)}
            by_channel: dict[str, Running] = {}
            for row in rows:
                spec = StrategyExperimentSpec.model_validate(row.definition)
                reuse = None
                if old is not None and old.live == live.version:
                    reuse = old.by_channel.get(spec.channels[0])
                if reuse is not None and reuse.spec == spec:
                    running = reuse
                else:
                    try:
                        found = {v: s for v, s in stored.items() if s is not None}
                        running = Running(spec, compile_arms(spec, live, found))
                    except ArmError as exc:
                        if (spec.id, live.version) not in self._failed:
                            self._failed.add((spec.id, live.version))
                            log.error("strategy experiment %s: its arms do not compile against "
                                      "snapshot %s; left out meanwhile: %s", spec.id,
                                      live.version, exc)  # fmt: skip
                        continue
                for channel in spec.channels:
                    by_channel[channel] = running
            self._arms = Arms(live.version, by_channel, key)
            return self._arms

    def choose(
        self, snapshot: Snapshot, channel: str | None, customer: str | None
    ) -> tuple[Snapshot, tuple[str, str] | None]:
        """The snapshot that decides a request, and its (experiment, arm), or None outside
        every arm (see the module)."""
        arms = self._arms
        if arms is None or customer is None or channel is None or arms.live != snapshot.version:
            return snapshot, None
        running = arms.by_channel.get(channel)
        if running is None or channel not in snapshot.channels:  # gone from the live one
            return snapshot, None
        holdout = snapshot.holdout
        if (
            holdout is not None
            and (not holdout.channels or channel in holdout.channels)
            and assignment(holdout.experiment, customer) < holdout.share
        ):
            return snapshot, None  # the control group: outside every arm
        arm = arm_of(running.spec, customer)
        return running.snapshots[arm.name], (running.spec.id, arm.name)
