"""The examples in the learning modules' docstrings run and give what they show."""

from __future__ import annotations

import doctest

import pytest

from nextoffer.core import stats
from nextoffer.core.learning import (
    attach,
    baskets,
    features,
    mining,
    segments,
    uplift,
    uplift_metrics,
)
from nextoffer.core.learning.ope import data as ope_data
from nextoffer.core.learning.ope import estimators as ope_estimators


@pytest.mark.parametrize(
    "module",
    [attach, baskets, mining, features, segments, uplift, uplift_metrics, stats, ope_data,
     ope_estimators],
)  # fmt: skip
def test_docstring_examples(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.attempted > 0
    assert result.failed == 0
