"""A decision for a customer never seen before vs one already scored, in process.

Run: ``.venv/bin/python bench/new_customer_bench.py [--decisions N] [--bootstrap B]``

SQLite in a temporary directory, the demo's catalog, an X-learner for savings and the card
trained on the simulator's truth (``--bootstrap`` replicas, 10 as in the demo) and live;
500 stored, bulk-scored customers. Each decision goes through the service's decision path
(``decisions.service.decide`` in a transaction of its own, as ``POST /v1/decisions`` on
SQLite runs it): its customer's state and estimates read, the engine, the ledger write.
Wall time (the commit's fsync included) and the CPU time of the
deciding thread are reported. A new customer gets the offer's average τ (no model in the
request, no write but the decision); for comparison, the bench also times what the request used to do for such a
customer: score them with every live model and upsert the estimates.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nextoffer.core.request import Request
from nextoffer.core.rules import CustomerSchema
from nextoffer.jobs.uplift import UpliftModel, fit_model
from nextoffer.scenarios.demo import bank_customers, demo_snapshot, true_effect
from nextoffer.service.customers.schemas import CustomerIn
from nextoffer.service.customers.service import upsert as put_customer
from nextoffer.service.db import Database
from nextoffer.service.decisions import service as decisions
from nextoffer.service.migrate import upgrade
from nextoffer.service.snapshots.cache import SnapshotCache
from nextoffer.service.snapshots.loader import load_spec
from nextoffer.service.snapshots.service import publish
from nextoffer.service.uplift import repository
from nextoffer.service.uplift.estimates import (
    ModelCache,
    ScoreAhead,
    _estimate_rows,
    feature_columns,
    feature_row,
    score_customers,
)

OFFERS = ("savings-account", "credit-card")  # the two the demo's campaign trains well


def _model(offer: str, bootstrap: int) -> UpliftModel:
    rng = random.Random(OFFERS.index(offer))
    customers = list(bank_customers(rng, 2000))
    t = np.array([rng.random() < 0.5 for _ in customers], dtype=np.int8)
    y = []
    for i, c in enumerate(customers):
        base, tau = true_effect(c, offer)
        y.append(float(rng.random() < base + (tau if t[i] else 0.0)))
    columns = feature_columns([feature_row(c) for c in customers])
    return fit_model(columns, t, np.array(y), propensity=0.5, n_bootstrap=bootstrap)


def _quantiles(ms: list[float]) -> str:
    q = statistics.quantiles(ms, n=100)
    return f"p50 {q[49]:.2f} ms, p99 {q[98]:.2f} ms, mean {statistics.fmean(ms):.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=300)
    parser.add_argument("--bootstrap", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as where:
        db = Database(f"sqlite:///{Path(where) / 'bench.db'}")
        upgrade(db)
        now = dt.datetime.now(dt.UTC)
        known = list(bank_customers(random.Random(1), 500))
        with db.transaction() as session:
            load_spec(session, demo_snapshot())
            publish(session, "demo-1")
            schema = CustomerSchema.model_validate(demo_snapshot()["customer_schema"])
            for c in known:
                profile = {k: c[k] for k in ("attributes", "holdings", "segments")}
                put_customer(session, c["id"], CustomerIn.model_validate(profile), schema)
        t0 = time.perf_counter()
        trained = {o: (f"{o}@bench", _model(o, args.bootstrap)) for o in OFFERS}
        print(f"trained {len(trained)} X-learners ({args.bootstrap} bootstrap replicas) in "
              f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
        with db.transaction() as session:
            for offer, (version, model) in trained.items():
                repository.store_model(session, {
                    "version": version, "offer_id": offer, "method": model.method,
                    "outcome": model.outcome, "treated": 1, "control": 1,
                    "report": {"mean_tau": model.report["mean_tau"]}, "model": model.dumps(),
                    "trained_at": now,
                })  # fmt: skip
            scored = score_customers(session, trained)
        print(f"bulk-scored {scored} estimates for {len(known)} stored customers")
        cache, models = SnapshotCache(db), ModelCache(db)
        ahead = ScoreAhead(db, models)
        ahead.run()  # the background process, started before the decisions below
        rng = random.Random(2)
        attrs = list(bank_customers(random.Random(3), args.decisions))[1:]

        def body(cid: str, c: dict[str, Any] | None) -> dict[str, Any]:
            customer: dict[str, Any] = {"id": cid}
            if c is not None:
                customer.update(attributes=c["attributes"], holdings=c["holdings"])
            return {"customer": customer, "channel": rng.choice(["email", "in_app", "branch"])}

        def decide(b: dict[str, Any]) -> None:  # the request validated, as the API does
            db.run(decisions.decide, cache, Request.model_validate(b), None, models)

        for i in range(50):  # warm up
            decide(body(known[i]["id"], None))
        timings: dict[str, list[float]] = {"known": [], "new": []}
        cpu: dict[str, list[float]] = {"known": [], "new": []}
        for i in range(args.decisions):
            for kind in ("known", "new"):
                cid = rng.choice(known)["id"] if kind == "known" else f"new-{i}"
                b = body(cid, None if kind == "known" else attrs[i % len(attrs)])
                t, c0 = time.perf_counter(), time.thread_time()
                decide(b)
                timings[kind].append((time.perf_counter() - t) * 1000)
                cpu[kind].append((time.thread_time() - c0) * 1000)
        for kind, ms in timings.items():
            print(f"decision for a {kind + ' customer:':16s} wall {_quantiles(ms)}; CPU "
                  f"{_quantiles(cpu[kind])}  ({len(ms)} decisions)")  # fmt: skip
        t = time.perf_counter()
        written = ahead.run()  # what the background process does next
        print(f"score-ahead, off the request (the server's background process): {written} "
              f"estimates in {(time.perf_counter() - t) * 1000:.0f} ms, one batch per offer")  # fmt: skip
        old: list[float] = []
        old_cpu: list[float] = []
        live = models.live()
        for i in range(min(args.decisions, 100)):
            c = {"id": f"old-{i}", **attrs[i % len(attrs)]}
            t, c0 = time.perf_counter(), time.thread_time()
            with db.transaction() as session:
                for offer, (version, model) in live.items():
                    repository.upsert_estimates(
                        session, _estimate_rows(version, model, offer, [c], now)
                    )
            old.append((time.perf_counter() - t) * 1000)
            old_cpu.append((time.thread_time() - c0) * 1000)
        print(f"what the request used to add for a new customer (score with {len(live)} models "
              f"and upsert): wall {_quantiles(old)}; CPU {_quantiles(old_cpu)}")  # fmt: skip
        db.dispose()


if __name__ == "__main__":
    main()
