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


@pytest.mark.parametrize(
    "module", [attach, baskets, mining, features, segments, uplift, uplift_metrics, stats]
)
def test_docstring_examples(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.attempted > 0
    assert result.failed == 0
