"""How long a worst-case decision holds the event loop, on it and in a thread.

Run: ``.venv/bin/python bench/loop_stall_bench.py [--items N] [--rules R] [--quantifiers Q]``

The decision path on PostgreSQL runs the engine on the worker's event loop; while it runs,
no other request on that worker moves. The rule language bounds the work a condition can
do (quantifiers nested at most 2 deep and ~20,000 steps on the largest cart, 500 items),
but a checkout can still meet several such rules. This bench builds the demo's checkout
snapshot plus ``--rules`` rules whose trigger has ``--quantifiers`` quantifiers over the
cart (each ~1,500 steps on 500 items: 13 of them are about the limit), decides a cart of
``--items`` items, and measures

1. the engine's time for that decision, and for the demo's ordinary bank decision;
2. the event loop's worst lag (a 1 ms ticker's lateness) while such decisions run on the
   loop, and while they run in a worker thread (``run_in_threadpool``), with the time each
   decision takes then;
3. what a worker thread costs an ordinary decision (on the loop vs in a thread).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from starlette.concurrency import run_in_threadpool

from nextoffer.core.decision import build_snapshot, decide
from nextoffer.core.request import Request
from nextoffer.scenarios.demo import WORKED_EXAMPLE, demo_snapshot

AT = dt.datetime(2026, 3, 8, 18, 30, tzinfo=dt.UTC)


def _snapshot(rules: int, quantifiers: int) -> Any:
    spec = demo_snapshot()
    some = " and ".join(f"count(a in cart.items: a.price > {q}) >= 0" for q in range(quantifiers))
    offer = spec["rules"][0]["offers"]
    for i in range(rules):
        spec["rules"].append({"id": f"heavy-{i}", "trigger": some, "offers": offer,
                              "priority": 10})  # fmt: skip
    return build_snapshot(spec)


def _cart(items: int) -> Request:
    lines = [{"sku": f"SKU-{i}", "category": "bakery", "price": 1.0 + i % 50, "quantity": 1}
             for i in range(items)]  # fmt: skip
    return Request.model_validate({
        "customer": {"id": "guest-1"}, "channel": "pos", "session_id": "s-1", "at": AT,
        "store": {"id": "S1", "timezone": "America/New_York"}, "cart": {"items": lines},
    })  # fmt: skip


def _ms(f: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        out.append((time.perf_counter() - t) * 1000)
    return out


def _p(ms: list[float]) -> str:
    q = statistics.quantiles(ms, n=100) if len(ms) > 1 else ms * 99
    return f"p50 {q[49]:.2f} ms, p99 {q[98]:.2f} ms, max {max(ms):.2f} ms"


async def _lag_while(
    work: Callable[[], Any], n: int, threaded: bool
) -> tuple[list[float], list[float]]:
    """The 1 ms ticker's worst lateness while ``n`` decisions run one after another."""
    lags: list[float] = []
    done = False

    async def ticker() -> None:
        while not done:
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append((time.perf_counter() - t - 0.001) * 1000)

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    took = []
    for _ in range(n):
        t = time.perf_counter()
        if threaded:
            await run_in_threadpool(work)
        else:
            work()
            await asyncio.sleep(0)
        took.append((time.perf_counter() - t) * 1000)
    done = True
    await tick
    return lags, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--rules", type=int, default=5)
    parser.add_argument("--quantifiers", type=int, default=13)
    parser.add_argument("--n", type=int, default=30)
    args = parser.parse_args()
    heavy = _snapshot(args.rules, args.quantifiers)
    cart = _cart(args.items)
    plain = build_snapshot(demo_snapshot())
    bank = Request.model_validate({"customer": {k: WORKED_EXAMPLE[k] for k in ("id", "attributes",
                                   "holdings")}, "channel": "email", "at": AT})  # fmt: skip

    def heavy_decision() -> Any:
        return decide(heavy, cart, detail=False)

    def bank_decision() -> Any:
        return decide(plain, bank, detail=False)

    heavy_decision()
    print(f"{args.rules} rules of {args.quantifiers} quantifiers each, a cart of {args.items} "
          f"items: engine {_p(_ms(heavy_decision, args.n))}")  # fmt: skip
    print(f"the bank's ordinary decision: engine {_p(_ms(bank_decision, 2000))}")
    for threaded in (False, True):
        lags, took = asyncio.run(_lag_while(heavy_decision, args.n, threaded))
        where = "in a worker thread" if threaded else "on the event loop"
        print(f"heavy decisions {where}: the 1 ms ticker late by {_p(lags)} ({len(lags)} "
              f"ticks); each decision {_p(took)}")  # fmt: skip
    for threaded in (False, True):
        _lag, took = asyncio.run(_lag_while(bank_decision, 2000, threaded))
        where = "in a worker thread" if threaded else "on the event loop"
        print(f"ordinary decisions {where}: each {_p(took)}")


if __name__ == "__main__":
    main()
