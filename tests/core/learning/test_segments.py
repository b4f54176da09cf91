"""Uplift segments from τ, its interval and the base rate."""

from __future__ import annotations

import pytest

from nextoffer.core.learning.segments import Thresholds


@pytest.mark.parametrize(
    ("tau", "interval", "base", "segment"),
    [
        (0.10, (0.07, 0.13), 0.1, "persuadable"),
        (0.10, (0.02, 0.18), 0.1, "uncertain"),  # straddles +0.05
        (0.01, (-0.03, 0.04), 0.5, "sure_thing"),
        (0.01, (-0.08, 0.04), 0.5, "uncertain"),  # straddles −0.05
        (-0.10, (-0.15, -0.07), 0.05, "lost_cause"),
        (-0.10, (-0.15, -0.07), 0.40, "sleeping_dog"),
        (-0.10, (-0.30, 0.02), 0.40, "uncertain"),
        (0.10, None, 0.1, "persuadable"),
        (-0.10, None, 0.05, "lost_cause"),
        (-0.10, None, 0.40, "uncertain"),  # a sleeping dog needs its interval below zero
        (0.05, None, 0.1, "sure_thing"),  # the band includes its ends
        (-0.05, None, 0.9, "sure_thing"),
    ],
)
def test_segments(tau: float, interval, base: float, segment: str) -> None:
    assert Thresholds().segment(tau, interval, base) == segment


def test_thresholds_are_configurable_and_checked() -> None:
    wide = Thresholds(persuade=0.2, harm=-0.2, high_base_rate=0.5)
    assert wide.segment(0.1, (0.08, 0.12), 0.1) == "sure_thing"
    assert wide.segment(-0.3, (-0.4, -0.25), 0.4) == "lost_cause"
    with pytest.raises(ValueError, match="harm"):
        Thresholds(persuade=-0.1, harm=0.1)
