"""What a running strategy experiment costs a decision, in process, on one core.

Run: ``.venv/bin/python bench/strategy_experiment_bench.py [--customers N] [--rounds R]``

The bank's catalog published on SQLite (a file in a temporary folder), one experiment
running on e-mail (the champion, the live snapshot, and a challenger with the PRIE weights
without the uplift weight, half each), and N customers (2,000) with the worked example's
attributes, each decided on e-mail. Timed, the modes taking turns for R rounds (3) on the
same requests:

- ``choose``: the decision path's only new work per request, the arm's lookup (the
  holdout's hash first, then the experiment's);
- the engine alone (``core.decision.decide``) on the live snapshot and on the customer's
  arm's snapshot (the challenger's is compiled: its strategy is the channel's own);
- a whole decision of the service (``decisions.service.decide`` in its own transaction: the
  customer's state read from the ledger, the engine, the write), without the arms (as
  before strategy experiments) and with them;
- compiling the arms (``ArmCache.refresh`` after a change): what a request would pay if
  the arms were compiled in it rather than ahead of time.

Every decision with the arms is checked to be in the arm the core's ``arm_of`` gives (or
outside every arm in the holdout's control group). The load average is printed first and
last: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nextoffer.core.decision import (
    CustomerState,
    StrategyExperimentSpec,
    arm_of,
    assignment,
    decide,
)
from nextoffer.core.request import Request
from nextoffer.scenarios import bank_snapshot
from nextoffer.scenarios.demo import WORKED_EXAMPLE
from nextoffer.service.db import Database
from nextoffer.service.decisions import service as decisions
from nextoffer.service.migrate import upgrade
from nextoffer.service.snapshots import service as snapshots
from nextoffer.service.snapshots.cache import SnapshotCache
from nextoffer.service.snapshots.loader import load_spec
from nextoffer.service.strategy_experiments import service as experiments
from nextoffer.service.strategy_experiments.arms import ArmCache

DEFINITION = {
    "id": "bench-email",
    "channels": ["email"],
    "arms": [
        {"name": "champion", "share": 0.5, "snapshot": "live"},
        {"name": "no-uplift", "share": 0.5, "strategy": {"scoring": {
            "strategy": "prie", "weights": {"propensity": 0.4, "relevance": 0.1, "impact": 0.3,
                                            "emphasis": 0.2, "uplift": 0.0}}}},
    ],
}  # fmt: skip


def _row(name: str, times: list[float]) -> str:
    times = sorted(times)
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
    return (
        f"{name:<44} p50 {statistics.median(times):9.1f} µs   p99 {p99:9.1f} µs   n {len(times):,}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    folder = Path(tempfile.mkdtemp(prefix="strategy-bench-"))
    db = Database(f"sqlite:///{folder / 'bench.db'}")
    upgrade(db)
    with db.transaction() as session:
        load_spec(session, bank_snapshot())
        snapshots.publish(session, "bank-1")
        experiments.propose(session, "ann", DEFINITION)
        experiments.start(session, "bob", "bench-email")
    cache = SnapshotCache(db, poll=3600.0)
    arms = ArmCache(db, cache)
    arms.refresh()
    live = cache.get()
    spec = StrategyExperimentSpec.model_validate(DEFINITION)
    example: dict[str, Any] = dict(WORKED_EXAMPLE)
    attributes: dict[str, Any] = dict(example["attributes"])
    holdings: list[str] = list(example["holdings"])
    requests = [
        Request.model_validate({"customer": {"id": f"b-{i}", "attributes": attributes,
                                             "holdings": holdings}, "channel": "email"})
        for i in range(args.customers)
    ]  # fmt: skip
    states = [CustomerState(id=f"b-{i}", attributes=attributes, holdings=tuple(holdings))
              for i in range(args.customers)]  # fmt: skip
    holdout = live.holdout
    assert holdout is not None

    def expected(customer: str) -> str | None:
        if assignment(holdout.experiment, customer) < holdout.share:
            return None
        return arm_of(spec, customer).name

    times: dict[str, list[float]] = {}

    def record(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter_ns()
        out = fn(*args, **kwargs)
        times.setdefault(name, []).append((time.perf_counter_ns() - start) / 1000)  # µs
        return out

    for _ in range(args.rounds):
        for i, (request, state) in enumerate(zip(requests, states, strict=True)):
            chosen, _ = record("choose (the arm's lookup)", arms.choose, live, "email", f"b-{i}")
            now = decisions.wall_clock()
            record("engine, live snapshot", decide, live, request, state, now=now,
                   contacts_at=now)  # fmt: skip
            record("engine, the customer's arm's snapshot", decide, chosen, request, state,
                   now=now, contacts_at=now)  # fmt: skip
        for i, request in enumerate(requests):
            record("service decision, without arms (before)", db.run, decisions.decide, cache,
                   request, None, None)  # fmt: skip
            answer = record("service decision, experiment running (after)", db.run,
                            decisions.decide, cache, request, None, None, None, None, arms)  # fmt: skip
            got = answer.get("arm", {}).get("name")
            assert got == expected(f"b-{i}"), (i, got)
    for name, values in times.items():
        print(_row(name, values))
    compiles: list[float] = []
    for n in range(5):  # a change of the running experiments: everything compiled again
        with db.transaction() as session:
            experiments.stop(session, "bob", f"bench-email{'' if n == 0 else f'-{n}'}")
            experiments.propose(session, "ann", {**DEFINITION, "id": f"bench-email-{n + 1}"})
            experiments.start(session, "bob", f"bench-email-{n + 1}")
        start = time.perf_counter_ns()
        arms.refresh()
        compiles.append((time.perf_counter_ns() - start) / 1000)
    print(_row("compiling the arms (ahead of time)", compiles))
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    db.dispose()


if __name__ == "__main__":
    main()
