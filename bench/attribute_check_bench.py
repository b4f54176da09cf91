"""What checking a decision request's customer attributes costs, in process, on one core.

Run: ``.venv/bin/python bench/attribute_check_bench.py [--quick]``

The demo's snapshot and the bank's worked-example request (four declared attributes, one
holding), parsed from JSON as ``POST /v1/decisions`` parses it. Timed per request, median
and p99 over many rounds:

- ``check``: the boundary check alone (``CustomerSchema.check``, compiled once per
  snapshot), on a valid request and on one with four mistyped attributes;
- ``decision``: parse + engine, without and with the check (what the check adds to a
  decision in process; the database's read and write come on top of both).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time
from collections.abc import Callable

from nextoffer.core.decision import build_snapshot, decide
from nextoffer.core.request import Request
from nextoffer.scenarios.demo import WORKED_EXAMPLE, demo_snapshot

NOW = dt.datetime(2026, 3, 9, 15, 0, tzinfo=dt.UTC)


def _time(fn: Callable[[], object], rounds: int) -> tuple[float, float]:
    for _ in range(min(rounds, 500)):
        fn()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    rounds = 2_000 if parser.parse_args().quick else 20_000
    snapshot = build_snapshot(demo_snapshot())
    check = snapshot.spec.customer_schema.check
    customer = {k: WORKED_EXAMPLE[k] for k in ("id", "attributes", "holdings")}
    raw = json.dumps({"customer": customer, "channel": "email", "at": NOW.isoformat()})
    request = Request.model_validate_json(raw)
    attributes = request.customer.attributes if request.customer else {}
    mistyped = {"tenureMonths": "lots", "balance": "rich", "hasCreditCard": "yes",
                "tier": {"a": 1}}  # fmt: skip
    assert not check.problems(attributes, "customer.attributes")
    assert len(check.problems(mistyped, "customer.attributes")) == 4

    def without() -> object:
        return decide(snapshot, Request.model_validate_json(raw), now=NOW, detail=False)

    def with_check() -> object:
        parsed = Request.model_validate_json(raw)
        assert parsed.customer is not None
        if check.problems(parsed.customer.attributes, "customer.attributes"):
            raise AssertionError
        return decide(snapshot, parsed, now=NOW, detail=False)

    rows: list[tuple[str, Callable[[], object]]] = [
        ("check, valid request", lambda: check.problems(attributes, "customer.attributes")),
        ("check, 4 mistyped", lambda: check.problems(mistyped, "customer.attributes")),
    ]
    print(f"{'':30} {'p50 µs':>9} {'p99 µs':>9}   ({rounds:,} rounds each)")
    for name, fn in rows:
        p50, p99 = _time(fn, rounds)
        print(f"{name:30} {p50:9.2f} {p99:9.2f}")
    # the two decisions alternate, round by round, so a busy machine slows both alike
    both: dict[str, list[float]] = {"decision without the check": [], "decision with the check": []}
    for _ in range(rounds):
        for samples, one in zip(both.values(), (without, with_check), strict=True):
            start = time.perf_counter_ns()
            one()
            samples.append((time.perf_counter_ns() - start) / 1000)
    for name, samples in both.items():
        samples.sort()
        p99 = samples[int(len(samples) * 0.99) - 1]
        print(f"{name:30} {statistics.median(samples):9.2f} {p99:9.2f}")


if __name__ == "__main__":
    main()
