"""What operations add to one decision, in process: the metrics (multiprocess mode, as
``serve`` runs them), the access log line (JSON, to a file) and the request id, each timed
on its own against the decision engine's own time on the same machine in the same run.

Run: ``.venv/bin/python bench/operations_bench.py [--n N]``

The service benchmark (``bench/service_bench.py``) measures the whole server's CPU per
decision; this one says which part of the difference is which.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="nextoffer-bench-metrics-")

from nextoffer.core.decision import build_snapshot, decide
from nextoffer.core.decision.spec import CustomerState
from nextoffer.core.request import Request
from nextoffer.scenarios.demo import WORKED_EXAMPLE, demo_snapshot
from nextoffer.service.operations import logs
from nextoffer.service.operations.metrics import metrics


def per_call(fn: Callable[[], object], n: int) -> float:
    """Microseconds per call, the best of 5 rounds of ``n``."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    args = parser.parse_args()
    snapshot = build_snapshot(demo_snapshot())
    at = dt.datetime(2026, 3, 8, 14, 30, tzinfo=dt.UTC)
    request = Request.model_validate({"customer": {"id": WORKED_EXAMPLE["id"],
                                      "attributes": WORKED_EXAMPLE["attributes"]},
                                      "channel": "email", "at": at})  # fmt: skip
    state = CustomerState(id=WORKED_EXAMPLE["id"], attributes=WORKED_EXAMPLE["attributes"],
                          holdings=tuple(WORKED_EXAMPLE["holdings"]))  # fmt: skip
    decision = decide(snapshot, request, state, seed="bench")
    m = metrics()
    engine = per_call(lambda: decide(snapshot, request, state, seed="bench"), args.n // 10)
    decided = per_call(lambda: m.decided("email", "offered", 0.004), args.n)
    traced = per_call(lambda: m.trace(decision.trace), args.n)
    answered = per_call(lambda: m.answered("POST", "/v1/decisions", 200), args.n)
    written = per_call(lambda: m.ledger_written("decisions", 0.001), args.n)
    log_file = Path(tempfile.mkdtemp(prefix="nextoffer-bench-log-")) / "access.log"
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logs.JsonFormatter())
    access = logging.getLogger("nextoffer.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False
    context = logs.RequestContext("0" * 32, "d" * 36)
    logs._current.set(context)

    logged = per_call(lambda: logs.access_line("POST", "/v1/decisions", 200, 4.2), args.n)
    request_id = per_call(lambda: logs._request_id({"headers": [(b"host", b"x")] * 6}), args.n)
    flushed = per_call(m.flush, args.n // 10)  # every FLUSH_SECONDS, not per decision
    total = decided + traced + answered + written + logged + request_id
    print(f"load average {os.getloadavg()[0]:.2f}; the engine alone: {engine:.1f} µs a decision")
    for label, value in (("decision counter + histogram", decided),
                         (f"drops and blocks ({len(decision.trace.stages)} stages)", traced),
                         ("HTTP request counter", answered), ("ledger write histogram", written),
                         ("access log line (JSON, to a file)", logged),
                         ("request id", request_id), ("all of it", total),
                         ("(a flush, twice a second)", flushed)):  # fmt: skip
        print(f"  {label:40} {value:6.2f} µs  ({value / engine:.1%} of the engine's time)")


if __name__ == "__main__":
    main()
