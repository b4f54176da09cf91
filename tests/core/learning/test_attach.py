"""Attach rates: shrinkage through the hierarchy, maturity, credible intervals."""

from __future__ import annotations

import pytest

from nextoffer.core.learning.attach import Cell, estimate, maturity

CATEGORIES = {"rioja": "wine", "malbec": "wine", "barolo": "wine", "espresso": "drinks"}


def test_a_pitch_never_shown_takes_its_parents_rate() -> None:
    rates = estimate([Cell("rioja", None, None, 1000, 250)], CATEGORIES)
    assert rates.overall.shown == 1000
    wine = rates.category["wine"]
    assert wine.p == pytest.approx((250 + 20 * rates.overall.p) / 1020)
    assert rates.offer["malbec"].p == pytest.approx(wine.p)  # cold start: the category's rate
    assert rates.offer["malbec"].maturity == "cold start"
    assert rates.offer["espresso"].p == pytest.approx(rates.overall.p)  # a category never shown


def test_evidence_pulls_the_estimate_from_the_parent_to_its_own_rate() -> None:
    def p(shown: int, accepted: int) -> float:
        cells = [
            Cell("rioja", None, None, 10_000, 1000),
            Cell("malbec", None, None, shown, accepted),
        ]
        return estimate(cells, CATEGORIES).offer["malbec"].p

    assert p(2, 2) < 0.2  # two lucky showings do not make p = 1
    assert p(100, 50) == pytest.approx((50 + 20 * 0.1) / 120, abs=1e-3)  # wine: about 0.1
    assert p(100_000, 50_000) == pytest.approx(0.5, abs=1e-3)


def test_rule_and_channel_pitches_shrink_toward_their_offer() -> None:
    cells = [
        Cell("rioja", "steak-wine", "pos", 200, 80),
        Cell("rioja", None, "pos", 300, 30),
        Cell("rioja", None, "kiosk", 500, 40),
    ]
    rates = estimate(cells, CATEGORIES)
    offer = rates.offer["rioja"]
    assert (offer.shown, offer.accepted) == (1000, 150)
    rule = rates.rule[("steak-wine", "rioja")]
    assert rule.parent == offer.p
    assert rule.p == pytest.approx((80 + 20 * offer.p) / 220)
    pos = rates.channel[("rioja", "pos")]
    assert (pos.shown, pos.accepted) == (500, 110)
    assert rates.channel[("rioja", "kiosk")].p < offer.p < pos.p


@pytest.mark.parametrize(
    ("shown", "label"),
    [(0, "cold start"), (1, "immature"), (99, "immature"), (100, "maturing"), (999, "maturing"),
     (1000, "mature")],
)  # fmt: skip
def test_maturity_labels(shown: int, label: str) -> None:
    assert maturity(shown) == label


def test_credible_interval_narrows_with_evidence_and_holds_the_estimate() -> None:
    few = estimate([Cell("rioja", None, None, 20, 5)], CATEGORIES).offer["rioja"]
    many = estimate([Cell("rioja", None, None, 20_000, 5_000)], CATEGORIES).offer["rioja"]
    for rate in (few, many):
        low, high = rate.interval(0.9)
        assert 0 <= low < rate.p < high <= 1
    assert many.interval()[1] - many.interval()[0] < 0.02 < few.interval()[1] - few.interval()[0]
    # a Beta(a, b) posterior: with a flat parent rate the interval is the textbook one
    low, high = many.interval(0.95)
    assert (low, high) == pytest.approx((0.244, 0.256), abs=1e-3)


def test_bad_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="accepted must be between 0 and shown"):
        estimate([Cell("rioja", None, None, 5, 6)], CATEGORIES)
    with pytest.raises(ValueError, match="strength"):
        estimate([], CATEGORIES, strength=0)
