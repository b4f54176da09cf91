"""Uplift learners: Qini on Hillstrom and fit time against causalml, and fit time at scale.

Run from the project root (the competitors are in the non-default dependency group
``uplift-compare``, which this command installs into ``.venv``; a later plain
``uv sync`` or ``./scripts/test`` removes them again):

    python3 -m uv run --group uplift-compare python bench/uplift_bench.py [--quick]

1. Quality on ``data/hillstrom.csv.gz`` (pandas decompresses it as it reads): Women's
   e-mail (treated) against no e-mail (control), outcome ``visit``; features recency, history_segment, history, mens, womens,
   zip_code, newbie and channel, the text ones one-hot encoded. A 50/50 train/test split
   stratified on (treatment, outcome) (``train_test_split(stratify=2t + y)``) for each seed
   0..4 (0..1 with ``--quick``); every model is fitted on the same training half and scored
   on the same test half:

   - ours ``TLearner()``, ``XLearner(propensity=share treated in training)`` and
     ``XLearner()`` (propensity fitted by a logistic regression), all with our default
     base learner;
   - causalml ``BaseTClassifier(LGBMClassifier)`` and ``BaseXClassifier(LGBMClassifier,
     LGBMRegressor)`` with its default fitted propensity (``p`` not given: causalml fits an
     ``ElasticNetPropensityModel``), all LightGBM models with default parameters;
   - for context only (no goal): ours ``TLearner`` on a scaled logistic regression, and
     causalml's X-learner given the known share as ``p`` (to show what its propensity model
     costs).

   Before the timed fits every model is fitted once, untimed, on 4,000 rows (first-call
   costs such as thread pools). The warnings raised in causalml's fits (its default
   propensity model, a cross-validated elastic-net logistic regression with saga, does not
   converge and uses parameters scikit-learn deprecates) are counted and printed as notes.

   The Qini coefficient is reported as mean ± sample standard deviation over the seeds in
   scikit-uplift's convention (``qini_coefficient(..., convention="sklift")``), checked
   against ``sklift.metrics.qini_auc_score`` on the same predictions, and in causalml's
   convention (ours ``convention="causalml"`` next to ``causalml.metrics.qini_score``; causalml
   orders tied scores arbitrarily where ours takes them together, so the two may differ a
   little on models with many tied scores). Published for context (scikit-uplift
   convention, same protocol): T-learner LightGBM 0.041 ± 0.011, X-learner LightGBM
   0.046 ± 0.010, T-learner logistic regression 0.061.

2. Speed: the fit time (``time.perf_counter``, median over the seeds, same training sets,
   default thread counts) of our ``XLearner(propensity=share)`` against causalml's
   ``BaseXClassifier`` with its fitted propensity. The machine has 2 cores and may be
   shared: the bench prints how many cores other processes kept busy (``/proc/stat``
   minus its own CPU time) and warns when that exceeds 0.25.

3. Scale: a synthetic randomized experiment of 1,000,000 rows × 20 normal features
   (200,000 with ``--quick``; half treated; a binary outcome whose effect depends on the
   features), our ``TLearner().fit`` and ``XLearner(propensity=0.5).fit`` timed each in a
   fresh process (``--worker``) so that its peak resident set (VmHWM) is its own
   (``getrusage``'s ru_maxrss would carry this process's peak over the worker's exec); the
   fitted model's τ̂ on 100,000 new rows is compared with the true τ.

Goals (uplift issue): our X-learner with the known propensity at least 10× faster to fit
than causalml's X-learner, at equal Qini (our mean ≥ causalml's mean − causalml's standard
deviation over the seeds); each fit ≤ 60 s at 1,000,000 rows. A missed goal prints MISSED
and the exit code stays 0 (a failed scale worker is reported, not fatal).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nextoffer.core.learning.uplift import TLearner, XLearner
from nextoffer.core.learning.uplift_metrics import qini_coefficient
from procstatus import proc_status_kb

DATA = Path(__file__).resolve().parents[1] / "data"
HILLSTROM = DATA / "hillstrom.csv.gz"
FEATURES = ["recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie",
            "channel"]  # fmt: skip
TEXT = ["history_segment", "zip_code", "channel"]
SCALE_LIMIT_S = 60.0
SPEED_GOAL = 10.0
N_FEATURES = 20
N_CHECK = 100_000
WARM_UP = 4_000
BUSY = 0.25  # cores used by other processes, on average, above which timings are flagged

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
# fit on (X, t, y) of the training half, then τ̂ on X of the test half; returns fit seconds
Model = Callable[[Floats, Ints, Ints, Floats], tuple[float, Floats]]


def quiet_imports() -> None:
    """Silence the competitors' known, harmless warnings (narrowly: by category and module)."""
    # shap (imported by causalml) calls matplotlib colormap setters slated for deprecation
    warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module=r"shap\.")
    # scikit-uplift uses scikit-learn's deprecated stable_cumsum
    warnings.filterwarnings("ignore", category=FutureWarning, message=r".*stable_cumsum")


def load_hillstrom(path: Path) -> tuple[Floats, Ints, Ints, list[str]]:
    """Women's e-mail against no e-mail: features (one-hot), treatment, visit."""
    import pandas as pd

    df = pd.read_csv(path)
    df = df[df["segment"].isin(["Womens E-Mail", "No E-Mail"])].reset_index(drop=True)
    X = pd.get_dummies(df[FEATURES], columns=TEXT, dtype=float)
    t = (df["segment"] == "Womens E-Mail").to_numpy(dtype=np.int64)
    y = df["visit"].to_numpy(dtype=np.int64)
    return X.to_numpy(dtype=float), t, y, [str(c) for c in X.columns]


def timed(fit: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    model = fit()
    return time.perf_counter() - start, model


def ours(make: Callable[[float], Any]) -> Model:
    """One of our learners; ``make`` gets the share treated in the training half."""

    def run(X: Floats, t: Ints, y: Ints, X_test: Floats) -> tuple[float, Floats]:
        learner = make(float(t.mean()))
        seconds, model = timed(lambda: learner.fit(X, t, y))
        return seconds, np.asarray(model.predict(X_test), dtype=float)

    return run


# warnings raised inside causalml's fits ("Category: message" → count), printed as notes
CAUSALML_WARNINGS: Counter[str] = Counter()


def causalml_model(kind: str, known_p: bool = False) -> Model:
    """causalml's T- or X-learner on LightGBM; the X-learner fits its propensity unless
    ``known_p`` (then ``p`` is the share treated in the training half, as for ours)."""
    from causalml.inference.meta import BaseTClassifier, BaseXClassifier
    from lightgbm import LGBMClassifier, LGBMRegressor

    def run(X: Floats, t: Ints, y: Ints, X_test: Floats) -> tuple[float, Floats]:
        if kind == "T":
            learner: Any = BaseTClassifier(learner=LGBMClassifier(verbose=-1))
        else:
            learner = BaseXClassifier(
                outcome_learner=LGBMClassifier(verbose=-1),
                effect_learner=LGBMRegressor(verbose=-1),
            )
        p = np.full(len(t), t.mean()) if known_p else None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            seconds, _ = timed(lambda: learner.fit(X, treatment=t, y=y, p=p))
        CAUSALML_WARNINGS.update(f"{w.category.__name__}: {w.message}" for w in caught)
        p_test = np.full(len(X_test), t.mean()) if known_p else None
        tau = learner.predict(X_test, p=p_test) if kind == "X" else learner.predict(X_test)
        return seconds, np.asarray(tau, dtype=float).ravel()

    return run


def logistic() -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


MODELS: dict[str, tuple[Callable[[], Model], bool]] = {  # name: (factory, for context only)
    "ours TLearner()": (lambda: ours(lambda _: TLearner()), False),
    "ours XLearner(propensity=share)": (lambda: ours(lambda e: XLearner(propensity=e)), False),
    "ours XLearner() fitted propensity": (lambda: ours(lambda _: XLearner()), False),
    "causalml BaseTClassifier(LGBM)": (lambda: causalml_model("T"), False),
    "causalml BaseXClassifier(LGBM)": (lambda: causalml_model("X"), False),
    "ours TLearner(logistic)": (lambda: ours(lambda _: TLearner(logistic())), True),
    "causalml BaseXClassifier(LGBM), p=share": (lambda: causalml_model("X", True), True),
}
OURS_X, THEIR_X, THEIR_T = (
    "ours XLearner(propensity=share)",
    "causalml BaseXClassifier(LGBM)",
    "causalml BaseTClassifier(LGBM)",
)


def scores(tau: Floats, t: Ints, y: Ints) -> dict[str, float]:
    """Qini of one model on one test half: ours and the libraries', in both conventions."""
    import pandas as pd
    from causalml.metrics import qini_score
    from sklift.metrics import qini_auc_score

    frame = pd.DataFrame({"y": y, "w": t, "model": tau})
    return {
        "sklift": qini_coefficient(tau, t, y, convention="sklift"),
        "sklift_lib": float(qini_auc_score(y, tau, t)),
        "causalml": qini_coefficient(tau, t, y, convention="causalml"),
        "causalml_lib": float(qini_score(frame)["model"]),
    }


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def hillstrom(seeds: list[int]) -> dict[str, dict[str, list[float]]]:
    X, t, y, columns = load_hillstrom(HILLSTROM)
    print(f"{HILLSTROM.name}: Women's e-mail vs no e-mail, {len(t):,} customers "
          f"({int(t.sum()):,} treated), visit rate {y[t == 1].mean():.4f} treated, "
          f"{y[t == 0].mean():.4f} control; {len(columns)} features after one-hot "
          "encoding")  # fmt: skip
    models = {name: factory() for name, (factory, _) in MODELS.items()}
    results: dict[str, dict[str, list[float]]] = {
        name: {"fit": [], "sklift": [], "sklift_lib": [], "causalml": [], "causalml_lib": []}
        for name in models
    }
    for seed in seeds:
        X_tr, X_te, t_tr, t_te, y_tr, y_te = train_test_split(
            X, t, y, test_size=0.5, random_state=seed, stratify=2 * t + y
        )
        if seed == seeds[0]:  # warm-up, not timed: first-call costs (imports, thread pools)
            for model in models.values():
                model(X_tr[:WARM_UP], t_tr[:WARM_UP], y_tr[:WARM_UP], X_te[:WARM_UP])
            CAUSALML_WARNINGS.clear()
        line = []
        for name, model in models.items():
            seconds, tau = model(X_tr, t_tr, y_tr, X_te)
            results[name]["fit"].append(seconds)
            for key, value in scores(tau, t_te, y_te).items():
                results[name][key].append(value)
            line.append(f"{seconds:.1f}")
        print(f"   seed {seed}: fitted {len(models)} models ({', '.join(line)} s)", flush=True)
    return results


def report_hillstrom(results: dict[str, dict[str, list[float]]], n_seeds: int) -> None:
    print(f"\n{'model':>41} {'Qini sklift conv.':>18} {'causalml conv.: ours':>21} "
          f"{'causalml':>9} {'fit s':>6}")  # fmt: skip
    for name, r in results.items():
        m, s = mean_std(r["sklift"])
        context = "  (context)" if MODELS[name][1] else ""
        print(f"{name:>41} {m:>9.4f} ± {s:.4f} {statistics.fmean(r['causalml']):>21.4f} "
              f"{statistics.fmean(r['causalml_lib']):>9.4f} "
              f"{statistics.median(r['fit']):>6.2f}{context}")  # fmt: skip
    print(f"   Qini: mean ± sample std over {n_seeds} seeds; fit s: median over the seeds")
    print("   published (sklift conv.): T-learner LightGBM 0.041 ± 0.011, X-learner LightGBM "
          "0.046 ± 0.010, T-learner logistic 0.061")  # fmt: skip

    def max_diff(a: str, b: str) -> float:
        return max(abs(x - y) for r in results.values() for x, y in zip(r[a], r[b], strict=True))

    ratios = [c / s for r in results.values() for c, s in zip(r["causalml"], r["sklift"],
              strict=True) if abs(s) > 1e-3]  # fmt: skip
    print(f"   ours (convention sklift) vs sklift.metrics.qini_auc_score: max |difference| "
          f"{max_diff('sklift', 'sklift_lib'):.2e}")  # fmt: skip
    print(f"   ours (convention causalml) vs causalml.metrics.qini_score:  max |difference| "
          f"{max_diff('causalml', 'causalml_lib'):.2e}")  # fmt: skip
    for warning, count in sorted(CAUSALML_WARNINGS.items()):
        print(f"   note: causalml's fits warned {count} times: {warning[:150]}")
    if ratios:
        print(
            f"   causalml's convention / sklift's on the same predictions: median "
            f"{statistics.median(ratios):.2f}x (range {min(ratios):.2f}–{max(ratios):.2f})"
        )


# --- scale -------------------------------------------------------------------------------


def synthetic(n: int, seed: int) -> tuple[Floats, Ints, Ints, Floats]:
    """A randomized experiment: 20 N(0, 1) features, half treated, a binary outcome whose
    effect (on the logit) grows with x₄ > 0 and with x₅; returns X, t, y and the true τ(x)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, N_FEATURES))
    t = rng.integers(0, 2, n)
    base = -1.0 + 0.5 * X[:, 0] - 0.4 * X[:, 1] + 0.3 * X[:, 2] * X[:, 3]
    lift = 0.6 * (X[:, 4] > 0) + 0.3 * X[:, 5] - 0.1
    p0, p1 = 1 / (1 + np.exp(-base)), 1 / (1 + np.exp(-(base + lift)))
    y = (rng.random(n) < np.where(t == 1, p1, p0)).astype(np.int64)
    return X, t, y, p1 - p0


def scale_worker(learner: str, rows: int) -> None:
    """Fit one of our learners on ``rows`` synthetic rows; print a JSON report."""
    X, t, y, _ = synthetic(rows, seed=1)
    model: Any = TLearner() if learner == "T" else XLearner(propensity=0.5)
    rss_before, hwm_before = proc_status_kb("VmRSS"), proc_status_kb("VmHWM")
    seconds, _ = timed(lambda: model.fit(X, t, y))
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over exec, so a worker
    # started from this (large) process would report the parent's peak
    peak = proc_status_kb("VmHWM")
    X_new, t_new, y_new, tau = synthetic(N_CHECK, seed=2)
    start = time.perf_counter()
    tau_hat = model.predict(X_new)
    predict = time.perf_counter() - start
    print(json.dumps({
        "fit": seconds, "predict": predict, "rss_before_kb": rss_before, "peak_kb": peak,
        "hwm_before_kb": hwm_before,
        "corr": float(np.corrcoef(tau_hat, tau)[0, 1]),
        "mean_tau": float(tau.mean()), "mean_tau_hat": float(tau_hat.mean()),
        "qini": qini_coefficient(tau_hat, t_new, y_new), "qini_true": qini_coefficient(
            tau, t_new, y_new),
    }))  # fmt: skip


def scale(rows: int) -> dict[str, dict[str, Any] | None]:
    print(f"\n3. scale: synthetic {rows:,} rows × {N_FEATURES} features, each fit in a fresh "
          "process")  # fmt: skip
    out: dict[str, dict[str, Any] | None] = {}
    for learner, name in (("T", "TLearner()"), ("X", "XLearner(propensity=0.5)")):
        cmd = [sys.executable, __file__, "--worker", learner, "--rows", str(rows)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not done.stdout.strip():
            print(f"   {name}: worker failed (exit {done.returncode})")
            print("   " + "\n   ".join(done.stderr.strip().splitlines()[-15:]))
            out[name] = None
            continue
        r: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        out[name] = r
        print(f"   {name:>24}: fit {r['fit']:6.1f} s; peak RSS {r['peak_kb'] / 1024:,.0f} MB "
              f"(+{(r['peak_kb'] - r['rss_before_kb']) / 1024:,.0f} MB over the data)")  # fmt: skip
        print(f"   {'':>24}  τ̂ on {N_CHECK:,} new rows: predict {r['predict']:.2f} s, "
              f"corr(τ̂, τ) {r['corr']:.3f}, mean τ̂ {r['mean_tau_hat']:.4f} (true "
              f"{r['mean_tau']:.4f}), Qini {r['qini']:.3f} (true τ: {r['qini_true']:.3f})")  # fmt: skip
        if r["hwm_before_kb"] == r["peak_kb"]:
            print(f"   note: {name}'s peak was reached before fitting (making the data)")
        if done.stderr.strip():
            print("   stderr: " + " | ".join(done.stderr.strip().splitlines()[-3:])[:300])
    return out


class OtherWork:
    """How many cores other processes kept busy, on average, since ``start()``: the
    machine's busy CPU time (``/proc/stat``) minus this process's and its workers'."""

    def start(self) -> None:
        self.wall, self.busy, self.ours = time.perf_counter(), busy_s(), ours_s()

    def cores(self) -> float:
        wall = time.perf_counter() - self.wall
        return max(0.0, (busy_s() - self.busy) - (ours_s() - self.ours)) / wall


def busy_s() -> float:
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def ours_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def busy_note(cores: float) -> None:
    print(f"   meanwhile other processes kept {cores:.2f} of {os.cpu_count()} cores busy")


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, 200,000 rows at scale")
    parser.add_argument("--worker", choices=("T", "X"), help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        scale_worker(args.worker, args.rows)
        return
    if not HILLSTROM.exists():
        sys.exit(f"no data: {HILLSTROM} (see data/README.md)")
    quiet_imports()
    try:
        import causalml  # noqa: F401
        import lightgbm  # noqa: F401
        import sklift  # noqa: F401
    except ImportError as e:
        sys.exit(f"{e}: the competitors are in the uplift-compare group; run\n"
                 "  python3 -m uv run --group uplift-compare python bench/uplift_bench.py")  # fmt: skip
    seeds = list(range(2 if args.quick else 5))
    rows = 200_000 if args.quick else 1_000_000

    other, busy = OtherWork(), []
    other.start()
    print("1. quality on Hillstrom (and 2. fit time), 50/50 split stratified on (t, y), "
          f"seeds {seeds[0]}..{seeds[-1]}")  # fmt: skip
    results = hillstrom(seeds)
    busy.append(other.cores())
    report_hillstrom(results, len(seeds))
    busy_note(busy[-1])

    ours_x, their_x, their_t = results[OURS_X], results[THEIR_X], results[THEIR_T]
    t_ours, t_theirs = statistics.median(ours_x["fit"]), statistics.median(their_x["fit"])
    speed = t_theirs / t_ours
    print(f"\n2. fit time, median over {len(seeds)} seeds: {OURS_X} {t_ours:.2f} s, "
          f"{THEIR_X} (fitted propensity) {t_theirs:.2f} s: ours {speed:.1f}x faster")  # fmt: skip

    other.start()
    scaled = scale(rows)
    busy.append(other.cores())
    busy_note(busy[-1])

    (q_ours, _), (q_theirs, s_theirs) = mean_std(ours_x["sklift"]), mean_std(their_x["sklift"])
    q_t, s_t = mean_std(their_t["sklift"])
    equal = q_ours >= q_theirs - s_theirs
    if max(busy) > BUSY:
        print(f"\nWARNING: the machine was busy (other processes kept more than {BUSY} cores "
              "busy): fits with an OpenMP thread per core (scikit-learn's and LightGBM's "
              "defaults) slow down many-fold when another process takes a core; rerun on a "
              "quiet machine")  # fmt: skip
    print("\ngoals")
    print(f"   X-learner >= {SPEED_GOAL:.0f}x faster than causalml's (fitted propensity): "
          f"{speed:6.1f}x   {verdict(speed >= SPEED_GOAL)}")  # fmt: skip
    print(
        f"   ... at equal Qini (ours >= causalml X mean - std): {q_ours:.4f} vs "
        f"{q_theirs:.4f} - {s_theirs:.4f} = {q_theirs - s_theirs:.4f}   {verdict(equal)}"
    )
    print(f"   both together:                                       "
          f"{verdict(equal and speed >= SPEED_GOAL)}")  # fmt: skip
    for name, r in scaled.items():
        label = f"{name} fit <= {SCALE_LIMIT_S:.0f} s at {rows:,} rows:"
        if r is None:
            print(f"   {label:<54} not measured (worker failed)")
            continue
        note = "" if rows >= 1_000_000 else "  (--quick: the goal is at 1,000,000 rows)"
        print(f"   {label:<54} {r['fit']:6.1f} s   {verdict(r['fit'] <= SCALE_LIMIT_S)}{note}")
    print(f"   (no goal) causalml T-learner LightGBM Qini {q_t:.4f} ± {s_t:.4f}; ours: "
          + ", ".join(f"{n.removeprefix('ours ')} {mean_std(r['sklift'])[0]:.4f}"
                      for n, r in results.items() if n.startswith("ours")))  # fmt: skip


if __name__ == "__main__":
    main()
