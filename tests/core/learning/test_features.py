"""Feature encoding for the uplift learners."""

from __future__ import annotations

import numpy as np
import pytest

from nextoffer.core.learning.features import FeatureEncoder, FeatureError, columns_of


def test_numbers_stay_numbers_and_text_is_one_hot() -> None:
    enc = FeatureEncoder.fit({"tier": ["gold", None, "basic"], "vip": [True, False, None],
                              "tenure": np.array([3, 40, 7])})  # fmt: skip
    assert enc.names == ["tenure", "vip", "tier=", "tier=basic", "tier=gold"]
    X = enc.transform({"tier": ["basic", "platinum"], "vip": [None, True], "tenure": [1, 2]})
    assert X[0].tolist()[0] == 1.0
    assert np.isnan(X[0][1])  # missing number: NaN
    assert X[0].tolist()[2:] == [0.0, 1.0, 0.0]
    assert X[1].tolist()[2:] == [0.0, 0.0, 0.0]  # an unseen category: all zeros


def test_nested_values_and_huge_numbers_do_not_break_encoding() -> None:
    """Regression: a list-valued attribute made NumPy raise (a 500 in POST /v1/uplift/train)."""
    enc = FeatureEncoder.fit({"tags": [[1, 2], [3], None], "big": [1, None, 2**80]})
    assert enc.categorical == ("tags",)
    assert enc.transform({"tags": [[1, 2]], "big": [3]}).shape == (1, 4)


def test_rows_to_columns_and_missing_columns_are_named() -> None:
    cols = columns_of([{"a": 1}, {"b": "x"}])
    assert cols == {"a": [1, None], "b": [None, "x"]}
    enc = FeatureEncoder.fit(cols)
    with pytest.raises(FeatureError, match="b: the model needs this feature column"):
        enc.transform({"a": [1]})
    with pytest.raises(FeatureError, match="features: no feature columns"):
        FeatureEncoder.fit({})
