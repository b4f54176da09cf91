"""Association-rule mining speed and memory against pyfim, mlxtend and efficient-apriori.

Run: ``.venv/bin/python bench/mining_bench.py [--quick] [--file CSV]
[--min-support 0.005] [--min-confidence 0.5]``

Input: ``data/online_retail_baskets.csv.gz`` (25,900 invoices, 4,070 stock codes, one basket
per line; decompressed once into a temporary plain CSV that every library then reads), at min support 0.005 and min confidence 0.5: rules
with a single-item consequent, compared as (antecedent set, consequent).

1. The mining step, each library in its own fresh process (``--worker LIB``) so that its
   peak memory is its own. The worker imports its library, reads the file with the csv
   module into the input the library expects, notes its resident set (VmRSS), runs the
   mining step R times (R = 5 for nextoffer and pyfim, 1 for mlxtend and efficient-apriori;
   3 and no mlxtend with ``--quick``) and reports the median wall time
   (``time.perf_counter``), the peak resident set (VmHWM, over the whole process: interpreter,
   imports, data and mining) and the peak increase over the resident set before mining.

   - nextoffer: ``mine(baskets, min_support, min_confidence)`` on the baskets as
     ``nextoffer mine`` reads them (distinct items, blanks trimmed; checked), as tuples of
     the strings the csv module read: the command's reader hands the miner the items
     already coded as integers, but here the step codes the names itself, as pyfim's does.
   - pyfim (C): ``fim.arules(baskets, supp=-⌈S × N⌉, conf=100 × C, zmin=2, report="a",
     mode="o")`` on the lists read: a negative ``supp`` is an absolute count, worked out
     exactly (``Fraction(str(S)) × N``, rounded up), ``conf`` is a percentage, ``zmin=2``
     asks for a non-empty antecedent, and mode ``o`` takes a rule's support as that of
     antecedent ∪ consequent (the convention of arules and nextoffer; pyfim's own default
     is the antecedent's support).
   - mlxtend: ``fpgrowth(df, min_support, use_colnames=True)`` then
     ``association_rules(itemsets, num_itemsets=N, metric="confidence", min_threshold=C)``,
     keeping the rules with one consequent item. The one-hot encoding
     (``TransactionEncoder``, sparse, as a pandas sparse DataFrame, as mlxtend's docs advise
     for many items and small baskets) is done before the clock and is NOT timed; the
     encoded frame is part of the resident set before mining.
   - efficient-apriori: ``apriori(list of tuples, min_support, min_confidence)``, keeping
     the rules with ``len(rhs) == 1``.

2. The whole command, process start to exit: ``nextoffer mine --transactions FILE
   --min-support S --min-confidence C --out rules.csv`` against a Python process that
   imports fim, reads the file with csv, runs ``fim.arules`` as above and writes the rules
   (antecedent, consequent, count) with the csv module. Median of 3 runs each (1 with
   ``--quick``), interleaved; both files are read back and checked against nextoffer's rules
   (item names compared with surrounding blanks trimmed, as ``nextoffer mine`` trims them).

MB are 2^20 bytes. Warnings raised by a library are recorded and printed, never fatal.
Exit code 1 when nextoffer's rules differ from pyfim's or efficient-apriori's (or from the
data set's published consensus count), or when a run that produces them fails; a missed
speed or memory goal is printed as MISSED with exit code 0.

Goals (mining issue): ≥ 10x faster than mlxtend fpgrowth; time ≤ 1.5x pyfim's; peak memory
≤ 2x pyfim's (total peak resident set of the worker processes); whole command ≤ 2x the
Python + pyfim process.
"""

from __future__ import annotations

import argparse
import csv
import gc
import gzip
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

from procstatus import proc_status_kb

DATA = Path(__file__).resolve().parents[1] / "data"
DEFAULT_FILE = DATA / "online_retail_baskets.csv.gz"
LIBS = ("nextoffer", "pyfim", "mlxtend", "efficient-apriori")
REFERENCES = ("pyfim", "efficient-apriori")  # nextoffer must give exactly their rules
# Rule counts agreed by five independent miners (data/README.md).
CONSENSUS = {
    ("online_retail_baskets.csv", "0.02", "0.5"): 32,
    ("online_retail_baskets.csv", "0.01", "0.5"): 359,
    ("online_retail_baskets.csv", "0.005", "0.5"): 6_223,
}

Rule = tuple[frozenset[str], str]
Mined = tuple[list[tuple[list[str], str]], int]  # single-consequent rules, all rules
Step = Callable[[], Mined]

# The Python + pyfim process of the whole-command comparison (argv: file, S, C, out).
PYFIM_SCRIPT = """\
import csv, math, sys
from fractions import Fraction
import fim
path, support, confidence, out = sys.argv[1:5]
with open(path, newline="", encoding="utf-8") as f:
    baskets = [row for row in csv.reader(f) if row]
min_count = max(1, math.ceil(Fraction(support) * len(baskets)))
conf = Fraction(confidence) * 100
rules = fim.arules(baskets, supp=-min_count, conf=int(conf) if conf.denominator == 1
                   else float(conf), zmin=2, report="a", mode="o")
with open(out, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f, lineterminator="\\n")
    writer.writerow(["antecedent", "consequent", "count"])
    for head, body, count in rules:
        writer.writerow([" & ".join(body), head, count])
"""


def read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return [row for row in csv.reader(f) if row]


def min_count(min_support: str, n: int) -> int:
    """⌈S × N⌉, exactly: the support threshold as a count of baskets."""
    return max(1, math.ceil(Fraction(min_support) * n))


def percent(min_confidence: str) -> int | float:
    """The confidence threshold as pyfim's percentage (an int when it is whole)."""
    value = Fraction(min_confidence) * 100
    return int(value) if value.denominator == 1 else float(value)


def prepare(lib: str, path: Path, min_support: str, min_confidence: str) -> Step:
    """Import ``lib``, read ``path`` into its input, return the (untimed-setup) mining step."""
    s, c = float(min_support), float(min_confidence)
    if lib == "nextoffer":
        from nextoffer.core.learning.mining import mine
        from nextoffer.jobs.transactions import read_transactions

        named = (tuple(dict.fromkeys(filter(None, map(str.strip, r)))) for r in read_rows(path))
        baskets = [basket for basket in named if basket]
        if baskets != list(read_transactions(path).baskets):
            raise SystemExit("these baskets are not those `nextoffer mine` reads")

        def ours() -> Mined:
            result = mine(baskets, min_support=s, min_confidence=c)
            return [(list(r.antecedent), r.consequent) for r in result.rules], len(result.rules)

        return ours
    rows = read_rows(path)
    if lib == "pyfim":
        import fim

        supp, conf = -min_count(min_support, len(rows)), percent(min_confidence)

        def pyfim() -> Mined:
            rules = fim.arules(rows, supp=supp, conf=conf, zmin=2, report="a", mode="o")
            return [(list(body), head) for head, body, _count in rules], len(rules)

        return pyfim
    if lib == "mlxtend":
        import pandas as pd  # type: ignore[import-untyped, unused-ignore]
        from mlxtend.frequent_patterns import association_rules, fpgrowth
        from mlxtend.preprocessing import TransactionEncoder

        encoder = TransactionEncoder()
        onehot = encoder.fit(rows).transform(rows, sparse=True)
        df = pd.DataFrame.sparse.from_spmatrix(onehot, columns=encoder.columns_)
        del rows, onehot

        def mlxtend() -> Mined:
            itemsets = fpgrowth(df, min_support=s, use_colnames=True)
            rules = association_rules(
                itemsets, num_itemsets=len(df), metric="confidence", min_threshold=c
            )
            return [
                (list(a), next(iter(b)))
                for a, b in zip(rules["antecedents"], rules["consequents"], strict=True)
                if len(b) == 1
            ], len(rules)

        return mlxtend
    if lib == "efficient-apriori":
        from efficient_apriori import apriori

        tuples = [tuple(row) for row in rows]
        del rows

        def efficient() -> Mined:
            _itemsets, rules = apriori(tuples, min_support=s, min_confidence=c)
            return [(list(r.lhs), r.rhs[0]) for r in rules if len(r.rhs) == 1], len(rules)

        return efficient
    raise ValueError(f"unknown library {lib!r}")


def worker(lib: str, path: Path, min_support: str, min_confidence: str, repeats: int) -> None:
    """Run one library's mining step ``repeats`` times; print a JSON report on stdout."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        step = prepare(lib, path, min_support, min_confidence)
        gc.collect()
        rss_before = proc_status_kb("VmRSS")
        hwm_before = proc_status_kb("VmHWM")
        times: list[float] = []
        rules: list[tuple[list[str], str]] = []
        total = 0
        for _ in range(repeats):
            rules = []
            t = time.perf_counter()
            rules, total = step()
            times.append(time.perf_counter() - t)
        hwm = proc_status_kb("VmHWM")
    report = {
        "lib": lib,
        "times": times,
        "rss_before_kb": rss_before,
        "hwm_before_kb": hwm_before,
        "hwm_kb": hwm,
        "n_rules": len(rules),
        "n_all": total,
        "rules": sorted([sorted(a), c] for a, c in rules),
        "warnings": sorted({f"{w.category.__name__}: {w.message}" for w in caught}),
    }
    print(json.dumps(report))


def run_worker(
    lib: str, path: Path, min_support: str, min_confidence: str, repeats: int
) -> dict[str, Any] | None:
    cmd = [sys.executable, __file__, "--worker", lib, "--repeats", str(repeats),
           "--file", str(path), "--min-support", min_support,
           "--min-confidence", min_confidence]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        print(f"   {lib}: worker failed (exit {done.returncode})")
        print("   " + "\n   ".join(done.stderr.strip().splitlines()[-15:]))
        return None
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    report["median"] = statistics.median(report["times"])
    report["set"] = {(frozenset(a), c) for a, c in report["rules"]}
    return report


def stripped(rules: set[Rule]) -> set[Rule]:
    """Rules with blanks around item names removed (``nextoffer mine`` trims them on import)."""
    return {(frozenset(i.strip() for i in a), c.strip()) for a, c in rules}


def rules_in_csv(path: Path) -> tuple[int, set[Rule]]:
    """The rows and the rule set of a written CSV (antecedent items joined by `` & ``)."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return len(rows), stripped(
        {(frozenset(r["antecedent"].split(" & ")), r["consequent"]) for r in rows}
    )


def whole_command(
    path: Path, min_support: str, min_confidence: str, runs: int, ours: set[Rule]
) -> tuple[float, float] | None:
    """Median seconds, process start to exit, of ``nextoffer mine`` and Python + pyfim."""
    times: dict[str, list[float]] = {"nextoffer": [], "pyfim": []}
    with tempfile.TemporaryDirectory() as tmp:
        outs = {"nextoffer": Path(tmp) / "nextoffer.csv", "pyfim": Path(tmp) / "pyfim.csv"}
        cmds = {
            "nextoffer": [str(Path(sys.executable).parent / "nextoffer"), "mine",
                          "--transactions", str(path), "--min-support", min_support,
                          "--min-confidence", min_confidence, "--out", str(outs["nextoffer"])],
            "pyfim": [sys.executable, "-c", PYFIM_SCRIPT, str(path), min_support,
                      min_confidence, str(outs["pyfim"])],
        }  # fmt: skip
        for _ in range(runs):
            for name, cmd in cmds.items():
                t = time.perf_counter()
                done = subprocess.run(cmd, capture_output=True, text=True, check=False)
                times[name].append(time.perf_counter() - t)
                if done.returncode != 0:
                    print(
                        f"   {name}: command failed (exit {done.returncode}): {' '.join(cmd[:2])}"
                    )
                    print("   " + "\n   ".join(done.stderr.strip().splitlines()[-15:]))
                    return None
        agree = True
        for name, out in outs.items():
            n, written = rules_in_csv(out)
            same = n == len(ours) and written == stripped(ours)
            print(f"   {name:>9} wrote {n:,} rules, same as nextoffer's mining step: "
                  f"{'yes' if same else 'NO'}")  # fmt: skip
            agree = agree and same
        if not agree:
            return None
    return statistics.median(times["nextoffer"]), statistics.median(times["pyfim"])


def mb(kb: int) -> float:
    return kb / 1024


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs, no mlxtend (a smoke run)")
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE,
                        help="baskets CSV (or .csv.gz), no header")  # fmt: skip
    parser.add_argument("--min-support", default="0.005", help="least share of baskets")
    parser.add_argument("--min-confidence", default="0.5", help="least confidence")
    parser.add_argument("--worker", choices=LIBS, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    path: Path = args.file.resolve()
    support, confidence = args.min_support, args.min_confidence
    if args.worker:
        worker(args.worker, path, support, confidence, args.repeats)
        return
    if not path.exists():
        sys.exit(f"no data: {path} (see data/README.md)")
    with tempfile.TemporaryDirectory() as tmp:
        compare(plain_csv(path, Path(tmp)), args)


def plain_csv(path: Path, into: Path) -> Path:
    """The baskets as an uncompressed CSV of the same name less ``.gz``: every library and
    both whole commands read the same plain file, so nobody's time includes decompressing."""
    if path.suffix.lower() != ".gz":
        return path
    plain = into / path.stem
    with gzip.open(path, "rb") as src, plain.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return plain


def compare(path: Path, args: argparse.Namespace) -> None:
    support, confidence = args.min_support, args.min_confidence
    rows = read_rows(path)
    n, items = len(rows), len({i for row in rows for i in row})
    minc = min_count(support, n)
    del rows
    print(f"{path.name}: {n:,} baskets, {items:,} items; min support {support} "
          f"(>= {minc:,} baskets), min confidence {confidence}")  # fmt: skip
    libs = [lib for lib in LIBS if not (args.quick and lib == "mlxtend")]
    reports: dict[str, dict[str, Any] | None] = {}
    print("\n1. mining step, each library in a fresh process")
    for lib in libs:
        repeats = (3 if args.quick else 5) if lib in ("nextoffer", "pyfim") else 1
        reports[lib] = report = run_worker(lib, path, support, confidence, repeats)
        if report is not None:
            seconds = ", ".join(f"{t:.2f}" for t in report["times"])
            print(f"   {lib:>17}: {repeats} run(s): {seconds} s")

    ours = reports["nextoffer"]
    failed = False
    if ours is None:
        sys.exit("nextoffer's worker failed: nothing to compare")
    expected = CONSENSUS.get((path.name, support, confidence))
    if expected is not None and ours["n_rules"] != expected:
        print(f"   nextoffer gave {ours['n_rules']:,} rules, the published consensus is "
              f"{expected:,}: WRONG")  # fmt: skip
        failed = True

    print(f"\n{'library':>19} {'rules':>7} {'same as ours':>12} {'median s':>9} "
          f"{'speed-up':>9} {'peak MB':>8} {'increase MB':>12}")  # fmt: skip
    same: dict[str, bool] = {}
    for lib in LIBS:
        report = reports.get(lib)
        if report is None:
            note = "skipped (--quick)" if lib not in reports else "FAILED"
            print(f"{lib:>19} {note:>7}")
            if lib in REFERENCES:
                failed = True
            continue
        identical = report["n_rules"] == ours["n_rules"] and report["set"] == ours["set"]
        same[lib] = identical
        label = "(ours)" if lib == "nextoffer" else ("yes" if identical else "NO")
        ratio = report["median"] / ours["median"]
        increase = report["hwm_kb"] - report["rss_before_kb"]
        print(f"{lib:>19} {report['n_rules']:>7,} {label:>12} {report['median']:>9.2f} "
              f"{ratio:>8.1f}x {mb(report['hwm_kb']):>8.0f} {mb(increase):>12.0f}")  # fmt: skip
        if lib in REFERENCES and not identical:
            failed = True
    print("   speed-up: their median time / ours; peak: the worker's VmHWM; increase: VmHWM "
          "minus VmRSS just before mining")  # fmt: skip
    for lib, report in reports.items():
        if report is None:
            continue
        if report["hwm_before_kb"] == report["hwm_kb"]:
            print(f"   note: {lib}'s peak was reached before mining (reading or encoding)")
        for warning in report["warnings"]:
            print(f"   note: {lib} warned: {warning[:160]}")
        if report["n_all"] != report["n_rules"]:
            print(f"   note: {lib} found {report['n_all']:,} rules in all; "
                  f"{report['n_rules']:,} have a single-item consequent")  # fmt: skip
        if lib != "nextoffer" and not same.get(lib, True):
            only_ours, only_theirs = ours["set"] - report["set"], report["set"] - ours["set"]
            print(f"   {lib}: {len(only_ours):,} rules only in ours, {len(only_theirs):,} only "
                  f"in theirs, {report['n_rules'] - len(report['set']):,} duplicates")  # fmt: skip

    runs = 1 if args.quick else 3
    print(f"\n2. whole command, process start to exit (median of {runs})")
    command = whole_command(path, support, confidence, runs, ours["set"])
    if command is None:
        failed = True
    else:
        t_cli, t_py = command
        print(f"   nextoffer mine --out rules.csv:      {t_cli:6.2f} s")
        print(f"   python -c (csv, fim.arules, csv):    {t_py:6.2f} s")
        print(f"   ratio nextoffer / python+pyfim:      {t_cli / t_py:6.2f}x")

    print("\ngoals")
    mlx, fim_ = reports.get("mlxtend"), reports.get("pyfim")
    if mlx is not None:
        r = mlx["median"] / ours["median"]
        print(f"   >= 10x faster than mlxtend fpgrowth:     {r:6.1f}x   {verdict(r >= 10)}")
    else:
        print("   >= 10x faster than mlxtend fpgrowth:     not measured")
    if fim_ is not None:
        r = ours["median"] / fim_["median"]
        print(f"   time <= 1.5x pyfim's (ours / pyfim):     {r:6.2f}x   {verdict(r <= 1.5)}")
        peak = ours["hwm_kb"] / fim_["hwm_kb"]
        inc = (ours["hwm_kb"] - ours["rss_before_kb"]) / max(
            1, fim_["hwm_kb"] - fim_["rss_before_kb"]
        )
        print(f"   peak memory <= 2x pyfim's (total peak):  {peak:6.2f}x   {verdict(peak <= 2)}"
              f"   ({mb(ours['hwm_kb']):.0f} MB / {mb(fim_['hwm_kb']):.0f} MB; "
              f"increase ratio {inc:.2f}x, not used by the goal)")  # fmt: skip
    else:
        print("   time and memory against pyfim:           not measured")
    if command is not None:
        r = command[0] / command[1]
        print(f"   whole command <= 2x python+pyfim:        {r:6.2f}x   {verdict(r <= 2)}")
    else:
        print("   whole command <= 2x python+pyfim:        not measured")
    if failed:
        print("\nFAILED: nextoffer's rules differ from a reference's, or a run failed")
        sys.exit(1)


if __name__ == "__main__":
    main()
