"""How well an uplift model ranks customers: Qini, AUUC, uplift@k and calibration by decile.

Customers are ranked by the model's score τ̂, highest first; the curves are cumulative over
that ranking, with tied scores taken together (one point per group). For each top group:

- **Qini curve** (Radcliffe): incremental outcomes ``Y_t − Y_c · N_t / N_c`` (the control's
  outcomes scaled to the treated count; 0 while no control customer is in yet);
- **uplift curve** (cumulative gain): ``(Y_t / N_t − Y_c / N_c) · N``.

Outcomes may be binary (conversion) or continuous (revenue).

**nextoffer's convention** (the one the reports, the CLI and the dashboard use): the Qini
coefficient and the AUUC are normalised areas,
``(area(model) − area(random)) / (area(perfect) − area(random))``, with the trapezoid rule
over the number of customers targeted; random is the straight line to the curve's end and
perfect ranks the treated responders first and the control responders last (for the uplift
curve of a binary outcome, scikit-uplift's ordering of treated responders, then control
non-responders). 1 is perfect, 0 random, negative worse than random. On binary outcomes
this equals scikit-uplift's ``qini_auc_score`` (``negative_effect=True``) and
``uplift_auc_score``.

For comparison with the literature, ``convention="causalml"`` gives causalml's
``qini_score`` and ``auuc_score`` (``normalize=True``): each curve divided by its own end
value, averaged over the N + 1 points, minus the random line's average for the Qini (not
for the AUUC). They differ from ours by large factors (causalml's Qini was about 2.7 times
scikit-uplift's on the same Hillstrom predictions): always name the convention with a number.

**Large data**: with ``bins="auto"`` rows are grouped exactly (by distinct score) up to a
million rows, and into 10,000 score quantiles above that, so that memory is a few arrays
the size of the input and the curves have at most 10,001 points (100M rows fit).

>>> import numpy as np
>>> score = np.array([0.9, 0.8, 0.2, 0.1]); t = np.array([1, 0, 1, 0]); y = np.array([1, 0, 0, 1])
>>> round(qini_coefficient(score, t, y), 3)
1.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "EXACT_ROWS",
    "Convention",
    "Decile",
    "UpliftCurve",
    "auuc",
    "calibration",
    "qini_coefficient",
    "uplift_at_k",
    "uplift_curve",
]

Convention = Literal["nextoffer", "sklift", "causalml"]
Bins = int | Literal["auto"] | None
Floats = NDArray[np.float64]
EXACT_ROWS = 1_000_000
AUTO_BINS = 10_000


def _arrays(score: ArrayLike, treatment: ArrayLike, y: ArrayLike) -> tuple[Floats, Floats, Floats]:
    s = np.asarray(score, dtype=float)
    t = np.asarray(treatment, dtype=float)
    ya = np.asarray(y, dtype=float)
    if not (s.ndim == t.ndim == ya.ndim == 1 and s.shape == t.shape == ya.shape):
        raise ValueError("score, treatment and y need one value per customer each")
    if s.size == 0:
        raise ValueError("no customers to rank")
    if not np.isin(t, (0.0, 1.0)).all():
        raise ValueError("treatment must be 0 (control) or 1 (treated)")
    if not (np.isfinite(s).all() and np.isfinite(ya).all()):
        raise ValueError("score and y must be finite")
    return s, t, ya


def _group(score: Floats, bins: Bins) -> tuple[NDArray[np.intp], int]:
    """Group index per row, 0 for the highest scores."""
    if bins == "auto":
        bins = None if score.size <= EXACT_ROWS else AUTO_BINS
    if bins is None:
        uniq, inverse = np.unique(-score, return_inverse=True)
        return inverse, uniq.size
    if bins < 1:
        raise ValueError("bins must be at least 1")
    edges = np.unique(np.quantile(score, np.linspace(0, 1, bins + 1)[1:-1]))
    group = edges.size - np.searchsorted(edges, score, side="left")
    return group, edges.size + 1


@dataclass(frozen=True)
class UpliftCurve:
    """Cumulative counts after each group of customers (highest score first); point 0 is
    nobody targeted. ``n`` customers targeted, of which ``n_treated`` treated; ``y_treated``
    and ``y_control`` their summed outcomes."""

    n: Floats
    n_treated: Floats
    y_treated: Floats
    y_control: Floats

    @property
    def n_control(self) -> Floats:
        return self.n - self.n_treated

    def qini(self) -> Floats:
        nc = self.n_control
        ratio = np.divide(self.n_treated, nc, out=np.zeros_like(nc), where=nc != 0)
        return self.y_treated - self.y_control * ratio

    def uplift(self) -> Floats:
        nt, nc = self.n_treated, self.n_control
        mt = np.divide(self.y_treated, nt, out=np.zeros_like(nt), where=nt != 0)
        mc = np.divide(self.y_control, nc, out=np.zeros_like(nc), where=nc != 0)
        return (mt - mc) * self.n

    def points(self, at_most: int = 101) -> list[dict[str, float]]:
        """At most ``at_most`` points for a chart: share targeted, Qini, random line."""
        idx = np.unique(np.linspace(0, self.n.size - 1, min(at_most, self.n.size)).astype(int))
        q, total = self.qini(), float(self.n[-1])
        end = float(q[-1])
        return [
            {
                "targeted": float(self.n[i]) / total,
                "qini": float(q[i]),
                "random": end * float(self.n[i]) / total,
            }
            for i in idx
        ]


def uplift_curve(
    score: ArrayLike, treatment: ArrayLike, y: ArrayLike, *, bins: Bins = "auto"
) -> UpliftCurve:
    """The cumulative counts behind the Qini and uplift curves of ``score``'s ranking."""
    s, t, ya = _arrays(score, treatment, y)
    return _curve(s, t, ya, bins)


def _curve(s: Floats, t: Floats, y: Floats, bins: Bins) -> UpliftCurve:
    group, k = _group(s, bins)
    zero = np.zeros(1)

    def cum(weights: Floats | None) -> Floats:
        return np.concatenate([zero, np.cumsum(np.bincount(group, weights, minlength=k))])

    yt = y * t
    return UpliftCurve(n=cum(None), n_treated=cum(t), y_treated=cum(yt), y_control=cum(y - yt))


def _normalised(model: Floats, perfect: Floats, xm: Floats, xp: Floats) -> float:
    def above_random(curve: Floats, x: Floats) -> float:
        return float(np.trapezoid(curve, x)) - float(curve[-1]) * float(x[-1]) / 2

    best = above_random(perfect, xp)
    if best == 0:
        raise ValueError("the perfect ranking is no better than random: nothing to normalise by")
    return above_random(model, xm) / best


def _causalml(curve: Floats, n: Floats, *, minus_random: bool) -> float:
    end = abs(float(curve[-1]))
    if end == 0:
        raise ValueError("the curve ends at 0: causalml's normalisation divides by its end")
    c = curve / end
    # the N + 1 per-customer points of causalml, linear within a group of tied scores
    mean = (float(np.trapezoid(c, n)) + (c[0] + c[-1]) / 2) / (n[-1] + 1)
    return float(mean - (c[-1] / 2 if minus_random else 0.0))


def _perfect_score(t: Floats, y: Floats, uplift: bool) -> Floats:
    if uplift and np.isin(y, (0.0, 1.0)).all():  # scikit-uplift's perfect uplift ordering
        control_responders = np.sum((y == 1) & (t == 0))
        treated_non_responders = np.sum((y == 0) & (t == 1))
        summand = y if control_responders > treated_non_responders else t
        return np.asarray(2.0 * (y == t) + summand, dtype=float)
    return y * t - y * (1 - t)


def _area(
    kind: Literal["qini", "uplift"],
    score: ArrayLike,
    treatment: ArrayLike,
    y: ArrayLike,
    convention: Convention,
    bins: Bins,
) -> float:
    s, t, ya = _arrays(score, treatment, y)
    model = _curve(s, t, ya, bins)
    curve = model.qini() if kind == "qini" else model.uplift()
    if convention == "causalml":
        return _causalml(curve, model.n, minus_random=kind == "qini")
    if convention not in ("nextoffer", "sklift"):
        raise ValueError(f"unknown convention {convention!r}")
    perfect = _curve(_perfect_score(t, ya, uplift=kind == "uplift"), t, ya, bins)
    best = perfect.qini() if kind == "qini" else perfect.uplift()
    return _normalised(curve, best, model.n, perfect.n)


def qini_coefficient(
    score: ArrayLike,
    treatment: ArrayLike,
    y: ArrayLike,
    *,
    convention: Convention = "nextoffer",
    bins: Bins = "auto",
) -> float:
    """The Qini coefficient of ``score``'s ranking, in the named convention (module doc)."""
    return _area("qini", score, treatment, y, convention, bins)


def auuc(
    score: ArrayLike,
    treatment: ArrayLike,
    y: ArrayLike,
    *,
    convention: Convention = "nextoffer",
    bins: Bins = "auto",
) -> float:
    """The area under the uplift (cumulative gain) curve, in the named convention."""
    return _area("uplift", score, treatment, y, convention, bins)


def uplift_at_k(score: ArrayLike, treatment: ArrayLike, y: ArrayLike, k: float = 0.3) -> float:
    """Mean outcome of the treated minus that of the control among the top ``k`` share of
    customers by score (scikit-uplift's ``uplift_at_k``, ``strategy="overall"``)."""
    s, t, ya = _arrays(score, treatment, y)
    if not 0 < k <= 1:
        raise ValueError("k must be a share in (0, 1]")
    top = np.argsort(s, kind="mergesort")[::-1][: int(s.size * k)]
    tt, yy = t[top], ya[top]
    if not (tt == 1).any() or not (tt == 0).any():
        raise ValueError(f"the top {k:.0%} holds no treated or no control customer")
    return float(yy[tt == 1].mean() - yy[tt == 0].mean())


@dataclass(frozen=True)
class Decile:
    """One score group of a calibration check: the mean predicted τ̂ next to the observed
    difference of means (treated − control) with its standard error."""

    group: int
    predicted: float
    observed: float
    std_error: float
    n_treated: int
    n_control: int


def calibration(
    tau: ArrayLike, treatment: ArrayLike, y: ArrayLike, groups: int = 10
) -> list[Decile]:
    """Predicted against observed effect by score decile (group 1 = highest τ̂). A
    calibrated model's rows lie near the diagonal, within about two standard errors."""
    s, t, ya = _arrays(tau, treatment, y)
    order = np.argsort(s, kind="mergesort")[::-1]
    out = []
    for g, rows in enumerate(np.array_split(order, groups), start=1):
        tr, ct = ya[rows][t[rows] == 1], ya[rows][t[rows] == 0]
        if tr.size < 2 or ct.size < 2:
            observed = se = float("nan")
        else:
            observed = float(tr.mean() - ct.mean())
            se = float(np.sqrt(tr.var(ddof=1) / tr.size + ct.var(ddof=1) / ct.size))
        out.append(Decile(g, float(s[rows].mean()), observed, se, int(tr.size), int(ct.size)))
    return out
