"""The worst a condition allowed by the cost limit can do, on the largest cart allowed.

Run: ``.venv/bin/python bench/rule_cost_bench.py [--quick]``

The rule language refuses, when a condition is written, quantifiers nested deeper than
``Limits.max_quantifier_depth`` and conditions whose worst-case cost on a cart of
``Limits.max_cart_items`` items (the most a request may carry) exceeds ``Limits.max_cost``
(see ``src/nextoffer/core/rules/cost.py``). For several shapes of body (numeric comparisons,
substring and prefix tests on 200-character SKUs, function calls, ``between``) this finds the
largest condition the checker still accepts, evaluates it on a cart of ``max_cart_items`` lines
where no test short-circuits, and reports its time (median, p99 and maximum of repeated runs,
``time.perf_counter_ns``, one core, and the p99 of its CPU time, ``time.thread_time_ns``). For contrast, the issue's nested ``count`` (refused now)
is compiled without the check and timed on the same cart.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable

from nextoffer.core.request import MAX_CART_ITEMS, Request
from nextoffer.core.rules import (
    DEFAULT_LIMITS,
    CompiledCondition,
    Environment,
    RuleError,
    build_context,
    compile_ast,
    parse_text,
)
from nextoffer.core.rules.cost import condition_cost

ISSUE = "count(a in cart.items: count(b in cart.items: a.price > b.price) > 0) >= 0"

# every test is false (or true under 'and'/'all'), so nothing short-circuits
SHAPES: dict[str, Callable[[int], str]] = {
    "count, 'and' of numeric comparisons": lambda k: (
        "count(item in cart.items: "
        + " and ".join(f"item.price > {j}" for j in range(k))
        + ") >= 0"
    ),
    "count, 'or' of contains on the sku": lambda k: (
        "count(item in cart.items: "
        + " or ".join(f'item.sku contains "zz{j}"' for j in range(k))
        + ") >= 0"
    ),
    "count, 'or' of starts_with on the sku": lambda k: (
        "count(item in cart.items: "
        + " or ".join(f'item.sku starts_with "zz{j}"' for j in range(k))
        + ") >= 0"
    ),
    "count, 'or' of cart.has_sku calls": lambda k: (
        "count(item in cart.items: "
        + " or ".join(f'cart.has_sku("zz{j}")' for j in range(k))
        + ") >= 0"
    ),
    "all, 'and' of between": lambda k: (
        "all item in cart.items: "
        + " and ".join(f"item.price between {j} and 1000000000" for j in range(k))
    ),
    "any, 'or' of item fields against a 50-value list": lambda k: (
        "any item in cart.items: "
        + " or ".join(
            f"item.category in {json.dumps([f'x{j}-{v}' for v in range(50)])}" for j in range(k)
        )
    ),
}


def largest_allowed(env: Environment, shape: Callable[[int], str]) -> tuple[int, CompiledCondition]:
    """The condition of ``shape`` with the most terms that the checker still accepts."""
    k = 1
    while True:
        try:
            env.compile(shape(k + 1))
        except RuleError:
            return k, env.compile(shape(k))
        k += 1


def timed(evaluate: Callable[[], object], runs: int) -> tuple[float, float, float, float]:
    """Median, p99 and maximum wall-clock milliseconds, and the p99 of CPU time (which a busy
    machine's preemption does not inflate)."""
    wall, cpu = [], []
    gc.disable()
    try:
        for _ in range(runs):
            start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
            evaluate()
            cpu.append(time.thread_time_ns() - start_cpu)
            wall.append(time.perf_counter_ns() - start)
    finally:
        gc.enable()
    wall.sort()
    cpu.sort()
    at = min(len(wall) - 1, int(0.99 * len(wall)))
    return statistics.median(wall) / 1e6, wall[at] / 1e6, wall[-1] / 1e6, cpu[at] / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    args = parser.parse_args()
    runs = 30 if args.quick else 300
    limits = DEFAULT_LIMITS
    env = Environment(offer_names=False)
    items = [
        {
            "sku": f"S{i}-".ljust(200, "x"),
            "category": f"c{i % 7}",
            "quantity": 3,
            "price": 1000.0 + i,
        }
        for i in range(MAX_CART_ITEMS)
    ]
    ctx = build_context(Request.model_validate({"cart": {"items": items}}))
    print(
        f"limits: max_cart_items={limits.max_cart_items}, max_cost={limits.max_cost:,},"
        f" max_quantifier_depth={limits.max_quantifier_depth}; cart of {len(items)} lines;"
        f" {runs} runs each"
    )
    print(f"{'shape':52} {'terms':>5} {'cost':>7} {'median':>9} {'p99':>9} {'max':>9}"
          f" {'cpu p99':>9}")  # fmt: skip
    worst = worst_median = 0.0
    for name, shape in SHAPES.items():
        terms, compiled = largest_allowed(env, shape)
        median, p99, top, cpu = timed(lambda c=compiled: c(ctx), runs)  # type: ignore[misc]
        worst, worst_median = max(worst, cpu), max(worst_median, median)
        cost = condition_cost(compiled.ast, limits)
        print(f"{name:52} {terms:5} {cost:7,} {median:7.2f}ms {p99:7.2f}ms {top:7.2f}ms"
              f" {cpu:7.2f}ms")  # fmt: skip
    print(f"slowest allowed condition: median {worst_median:.2f} ms, CPU p99 {worst:.2f} ms")
    issue = compile_ast(parse_text(ISSUE).ast)
    median, _, top, _ = timed(lambda: issue(ctx), max(3, runs // 30))
    cost = condition_cost(parse_text(ISSUE).ast, limits)
    print(
        f"the issue's nested count (refused when written; compiled here without the check):"
        f" cost {cost:,}, median {median:.1f} ms, max {top:.1f} ms"
    )


if __name__ == "__main__":
    main()
