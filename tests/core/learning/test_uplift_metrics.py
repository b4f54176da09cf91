"""Qini, AUUC, uplift@k and calibration: conventions checked against reference code."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from nextoffer.core.learning.uplift_metrics import (
    auuc,
    calibration,
    qini_coefficient,
    uplift_at_k,
    uplift_curve,
)


def _sklift_curve(y, score, t, kind):
    """scikit-uplift's qini_curve / uplift_curve, row by row (the reference)."""
    order = np.argsort(score, kind="mergesort")[::-1]
    y, score, t = y[order], score[order], t[order]
    ends = np.r_[np.where(np.diff(score))[0], score.size - 1]
    nt = np.cumsum(t)[ends]
    yt = np.cumsum(y * t)[ends]
    yc = np.cumsum(y * (1 - t))[ends]
    n = ends + 1.0
    nc = n - nt
    if kind == "qini":
        with np.errstate(divide="ignore", invalid="ignore"):
            values = yt - yc * np.where(nc != 0, nt / nc, 0)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            values = (np.where(nt != 0, yt / nt, 0) - np.where(nc != 0, yc / nc, 0)) * n
    return np.r_[0, n], np.r_[0, values]


def _sklift_score(y, score, t, kind):
    x, v = _sklift_curve(y, score, t, kind)
    if kind == "qini":
        perfect = y * t - y * (1 - t)
    else:
        cr, tn = np.sum((y == 1) & (t == 0)), np.sum((y == 0) & (t == 1))
        perfect = 2 * (y == t) + (y if cr > tn else t)
    xp, vp = _sklift_curve(y, perfect.astype(float), t, kind)
    base = vp[-1] * xp[-1] / 2
    return (np.trapezoid(v, x) - base) / (np.trapezoid(vp, xp) - base)


def _causalml_score(y, score, t, kind):
    """causalml's qini_score / auuc_score (normalize=True), one point per row."""
    order = np.argsort(-score, kind="mergesort")
    y, t = y[order], t[order]
    n = np.arange(1, y.size + 1)
    nt = np.cumsum(t)
    nc = n - nt
    yt, yc = np.cumsum(y * t), np.cumsum(y * (1 - t))
    with np.errstate(divide="ignore", invalid="ignore"):
        curve = yt - yc * nt / nc if kind == "qini" else (yt / nt - yc / nc) * n
    curve = np.r_[0.0, curve]
    bad = ~np.isfinite(curve)
    curve[bad] = np.interp(np.flatnonzero(bad), np.flatnonzero(~bad), curve[~bad])
    curve = curve / abs(curve[-1])
    random = np.linspace(0, curve[-1], curve.size)
    return (curve.sum() - (random.sum() if kind == "qini" else 0)) / curve.size


def _data(n=5000, seed=0, continuous=False, ties=False):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t = rng.integers(0, 2, n).astype(float)
    y = (rng.random(n) < 0.2 + 0.15 * t * (x > 0)).astype(float)
    if continuous:
        y = y * rng.lognormal(3, 1, n)
    score = x + rng.normal(scale=0.8, size=n)
    if ties:
        score = np.round(score, 1)
    return score, t, y


@pytest.mark.parametrize("continuous", [False, True])
@pytest.mark.parametrize("ties", [False, True])
def test_our_convention_is_scikit_uplifts_normalised_area(continuous: bool, ties: bool) -> None:
    score, t, y = _data(continuous=continuous, ties=ties)
    expected = _sklift_score(y, score, t, "qini")
    assert qini_coefficient(score, t, y) == pytest.approx(expected, rel=1e-9)
    assert qini_coefficient(score, t, y, convention="sklift") == pytest.approx(expected, rel=1e-9)
    if not continuous:  # scikit-uplift's perfect uplift ordering is defined for 0/1 outcomes
        assert auuc(score, t, y) == pytest.approx(_sklift_score(y, score, t, "uplift"), rel=1e-9)


@pytest.mark.parametrize("kind", ["qini", "uplift"])
def test_causalml_convention(kind: str) -> None:
    score, t, y = _data(n=20000)
    expected = _causalml_score(y, score, t, kind)
    ours = (qini_coefficient if kind == "qini" else auuc)(score, t, y, convention="causalml")
    assert ours == pytest.approx(expected, abs=2e-4)


def test_conventions_differ_by_large_factors() -> None:
    score, t, y = _data(n=20000)
    ours = qini_coefficient(score, t, y)
    theirs = qini_coefficient(score, t, y, convention="causalml")
    assert theirs / ours > 1.5


def test_perfect_random_and_reversed_rankings() -> None:
    score, t, y = _data(n=4000)
    perfect = y * t - y * (1 - t)
    assert qini_coefficient(perfect, t, y) == pytest.approx(1.0)
    assert qini_coefficient(np.zeros_like(y), t, y) == pytest.approx(0.0, abs=1e-12)
    assert qini_coefficient(-score, t, y) == pytest.approx(-qini_coefficient(score, t, y), abs=0.05)
    rng = np.random.default_rng(5)
    randoms = [qini_coefficient(rng.random(y.size), t, y) for _ in range(20)]
    assert abs(np.mean(randoms)) < 0.05


def test_binned_curves_match_exact_ones_and_use_little_memory() -> None:
    score, t, y = _data(n=300_000, seed=2)
    exact = qini_coefficient(score, t, y, bins=None)
    assert qini_coefficient(score, t, y, bins=10_000) == pytest.approx(exact, abs=2e-3)
    assert qini_coefficient(score, t, y, bins=1_000) == pytest.approx(exact, abs=5e-3)
    curve = uplift_curve(score, t, y, bins=1_000)
    assert curve.n.size <= 1_001
    tracemalloc.start()
    qini_coefficient(score, t, y, bins=1_000)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8 * score.nbytes  # a few arrays the size of the input, nothing per pair


def test_uplift_at_k_is_the_difference_of_means_in_the_top_share() -> None:
    score, t, y = _data(continuous=True)
    top = np.argsort(score, kind="mergesort")[::-1][: int(score.size * 0.3)]
    expected = y[top][t[top] == 1].mean() - y[top][t[top] == 0].mean()
    assert uplift_at_k(score, t, y, 0.3) == pytest.approx(expected)
    with pytest.raises(ValueError, match="k must be"):
        uplift_at_k(score, t, y, 0)


def test_calibration_by_decile_tracks_a_calibrated_score() -> None:
    rng = np.random.default_rng(3)
    n = 40_000
    tau = rng.uniform(-0.1, 0.3, n)
    t = rng.integers(0, 2, n)
    y = (rng.random(n) < 0.3 + t * tau).astype(float)
    deciles = calibration(tau, t, y)
    assert [d.group for d in deciles] == list(range(1, 11))
    assert deciles[0].predicted > deciles[-1].predicted
    for d in deciles:
        assert abs(d.observed - d.predicted) < 4 * d.std_error
    assert sum(d.n_treated + d.n_control for d in deciles) == n


def test_the_chart_points_start_at_nobody_and_end_at_everybody() -> None:
    score, t, y = _data()
    points = uplift_curve(score, t, y).points(11)
    assert len(points) == 11
    assert points[0] == {"targeted": 0.0, "qini": 0.0, "random": 0.0}
    assert points[-1]["targeted"] == 1.0
    assert points[-1]["qini"] == pytest.approx(points[-1]["random"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([1.0], [2], [1]), "treatment"),
        (([1.0, 2.0], [1], [1]), "one value per customer"),
        (([], [], []), "no customers"),
        (([np.nan], [1], [1]), "finite"),
    ],
)
def test_bad_input_is_named(args, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        qini_coefficient(*args)
