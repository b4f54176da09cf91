"""Logged decisions are validated when built, and bad input is refused naming the field and
the row at fault."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from nextoffer.core.errors import NextofferError
from nextoffer.core.learning.ope import LoggedDecisions, OpeError


def _good(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "action": [0, 1, 0],
        "propensity": [0.5, 0.25, 0.8],
        "reward": [1.0, 0.0, 1.0],
        "target": [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]],
        "reward_model": [[0.6, 0.2], [0.4, 0.3], [0.5, 0.7]],
    }
    return {**base, **changes}


def test_good_data_is_kept_as_read_only_copies() -> None:
    target = np.array(_good()["target"])
    d = LoggedDecisions(**_good(target=target))
    assert (d.rows, d.columns) == (3, 2)
    assert d.action.dtype == np.intp
    assert d.propensity.dtype == np.float64
    assert d.weights.tolist() == [2.0, 2.0, 0.0]
    target[0, 0] = 0.0  # the caller's array is not the one kept
    assert d.target[0, 0] == 1.0
    with pytest.raises(ValueError, match="read-only"):
        d.reward[0] = 5.0
    assert target.flags.writeable


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"action": []}, "action", "needs at least one logged decision"),
        ({"action": [0.0, 1.0, 0.0]}, "action", "must hold integers, got float64"),
        ({"action": [[0, 1, 0]]}, "action", "needs one dimension, got shape (1, 3)"),
        ({"action": [0, 2, 0]}, "action[1]", "must be a column of target (0 to 1), got 2"),
        ({"action": [0, -1, 0]}, "action[1]", "must be a column of target (0 to 1), got -1"),
        ({"propensity": [0.5, 0.25]}, "propensity", "needs shape (3,), got (2,)"),
        ({"propensity": [0.5, 0.0, 0.8]}, "propensity[1]", "must be a probability in (0, 1], got 0"),
        ({"propensity": [0.5, 1.5, 0.8]}, "propensity[1]", "must be a probability in (0, 1], got 1.5"),
        ({"propensity": [0.5, float("nan"), 0.8]}, "propensity[1]", "must be a finite number, got nan"),
        ({"propensity": ["a", "b", "c"]}, "propensity", "must hold numbers"),
        ({"reward": [1.0, float("inf"), 1.0]}, "reward[1]", "must be a finite number, got inf"),
        ({"reward": [1.0, 0.0]}, "reward", "needs shape (3,), got (2,)"),
        ({"target": [1.0, 0.5, 0.0]}, "target", "needs one row per logged decision (3) and one column per candidate, got shape (3,)"),
        ({"target": [[0.5, 0.4], [0.5, 0.5], [0.0, 1.0]]}, "target[0]", "must sum to 1 over the row's candidates, got 0.9"),
        ({"target": [[1.5, -0.5], [0.5, 0.5], [0.0, 1.0]]}, "target[0][1]", "must be a probability (≥ 0), got -0.5"),
        ({"reward_model": [[0.6, 0.2], [0.4, float("nan")], [0.5, 0.7]]}, "reward_model[1][1]", "must be a finite number, got nan"),
        ({"reward_model": [[0.6], [0.4], [0.5]]}, "reward_model", "needs shape (3, 2), got (3, 1)"),
        ({"position": [0, 1]}, "position", "needs one value per row (3), got shape (2,)"),
        ({"position": [0, -1, 0]}, "position[1]", "must be a slot number (≥ 0), got -1"),
        ({"decision": ["a", "b"]}, "decision", "needs one id per row (3), got shape (2,)"),
        ({"candidates": [[True, True]] * 2}, "candidates", "needs one True/False per cell of target (3, 2), got bool of shape (2, 2)"),
        ({"candidates": [[1, 1]] * 3}, "candidates", "needs one True/False per cell of target (3, 2), got int64 of shape (3, 2)"),
        ({"candidates": [[True, True], [False, False], [True, True]]}, "candidates[1]", "needs at least one candidate"),
        ({"candidates": [[True, True], [True, False], [True, True]]}, "action[1]", "is not one of the row's candidates"),
        ({"candidates": [[True, False], [True, True], [True, False]]}, "target[2][1]", "puts probability on a column that is not a candidate"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_naming_the_field(
    changes: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(OpeError) as caught:
        LoggedDecisions(**_good(**changes))
    exc = caught.value
    assert isinstance(exc, NextofferError)
    assert (exc.field, exc.message) == (field, message)
    assert str(exc) == f"{field}: {message}"


def test_a_propensity_a_hair_above_one_is_float_noise() -> None:
    d = LoggedDecisions(**_good(propensity=[0.5, 1 + 1e-12, 0.8]))
    assert d.propensity[1] == 1.0


def test_rows_with_fewer_candidates_ignore_the_model_beyond_them() -> None:
    d = LoggedDecisions(
        **_good(
            candidates=[[True, True], [True, True], [True, False]],
            target=[[1.0, 0.0], [0.5, 0.5], [1.0, 0.0]],
            reward_model=[[0.6, 0.2], [0.4, 0.3], [0.5, float("nan")]],
        )
    )
    assert d.reward_model is not None
    assert d.reward_model[2].tolist() == [0.5, 0.0]


def test_decisions_are_numbered_by_first_appearance() -> None:
    d = LoggedDecisions(**_good(decision=["z", "a", "z"]))
    groups, count = d.groups
    assert groups.tolist() == [0, 1, 0]
    assert count == 2
    assert LoggedDecisions(**_good()).groups[0].tolist() == [0, 1, 2]


def test_decision_ids_that_cannot_be_compared_are_refused() -> None:
    with pytest.raises(OpeError) as caught:
        LoggedDecisions(**_good(decision=[1, None, 2]))
    assert (caught.value.field, caught.value.message) == (
        "decision",
        "ids must be all numbers or all text",
    )


def test_take_selects_rows_such_as_one_slot() -> None:
    d = LoggedDecisions(**_good(position=[0, 1, 0], decision=[7, 7, 8]))
    first = d.take(d.position == 0)  # type: ignore[operator]
    assert first.rows == 2
    assert first.action.tolist() == [0, 0]
    assert first.decision is not None
    assert first.decision.tolist() == [7, 8]
    assert first.reward_model is not None
    assert first.reward_model.tolist() == [
        [0.6, 0.2],
        [0.5, 0.7],
    ]
    with pytest.raises(OpeError) as caught:
        d.take([True, False])
    assert caught.value.field == "rows"
