"""Feature columns for the uplift learners: numbers stay numbers, text is one-hot encoded.

A column is numeric when every value present is a number or a boolean (missing values
become NaN, which the default gradient-boosted learner handles); any other column is
categorical and one-hot encoded with scikit-learn's ``OneHotEncoder`` (a category unseen
in training encodes as all zeros; missing is its own category). The fitted encoder is
kept with the model, so scoring encodes new rows exactly as training did.

>>> enc = FeatureEncoder.fit({"tier": ["gold", "basic", "gold"], "tenure": [3, 40, None]})
>>> enc.names
['tenure', 'tier=basic', 'tier=gold']
>>> enc.transform({"tier": ["gold", "platinum"], "tenure": [12, 5]}).tolist()
[[12.0, 0.0, 1.0], [5.0, 0.0, 0.0]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.preprocessing import OneHotEncoder

from ..errors import NextofferError

__all__ = ["FeatureEncoder", "FeatureError", "columns_of"]

MISSING = ""


class FeatureError(NextofferError):
    """Feature data that cannot be encoded; raised when the encoder is fitted or applied,
    ``field`` names the column."""


def columns_of(records: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Rows as dicts to columns; a key absent from a row is a missing value there."""
    names = sorted({k for r in records for k in r})
    return {k: [r.get(k) for r in records] for k in names}


def _values(values: Any) -> list[Any]:
    """A column as Python values (a NumPy array or any sequence; nested values stay whole)."""
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def _numeric(values: Any) -> bool:
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        return True
    return all(v is None or isinstance(v, (bool, int, float, np.number)) for v in _values(values))


def _floats(name: str, values: Any) -> NDArray[np.float64]:
    try:
        return np.array([np.nan if v is None else v for v in _values(values)], dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise FeatureError(name, "expected numbers in a numeric feature") from None


def _texts(values: Any) -> NDArray[np.str_]:
    return np.array([[MISSING if v is None else str(v)] for v in _values(values)])


@dataclass(frozen=True)
class FeatureEncoder:
    """Which columns are numeric, which categorical, and the fitted one-hot encoder."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    encoders: tuple[OneHotEncoder, ...]

    @classmethod
    def fit(cls, columns: Mapping[str, Any]) -> FeatureEncoder:
        if not columns:
            raise FeatureError("features", "no feature columns")
        numeric = tuple(sorted(k for k, v in columns.items() if _numeric(v)))
        categorical = tuple(sorted(k for k in columns if k not in numeric))
        encoders = tuple(
            OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64).fit(
                _texts(columns[k])
            )
            for k in categorical
        )
        return cls(numeric, categorical, encoders)

    @property
    def names(self) -> list[str]:
        return [*self.numeric] + [
            f"{k}={c}"
            for k, enc in zip(self.categorical, self.encoders, strict=True)
            for c in enc.categories_[0]
        ]

    def transform(self, columns: Mapping[str, Any]) -> NDArray[np.float64]:
        for k in (*self.numeric, *self.categorical):
            if k not in columns:
                raise FeatureError(k, "the model needs this feature column")
        parts = [_floats(k, columns[k]).reshape(-1, 1) for k in self.numeric]
        parts += [
            np.asarray(enc.transform(_texts(columns[k])), dtype=float)
            for k, enc in zip(self.categorical, self.encoders, strict=True)
        ]
        return np.hstack(parts)  # fit() refuses an empty set of columns
