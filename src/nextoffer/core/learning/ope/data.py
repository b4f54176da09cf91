"""Logged decisions as off-policy evaluation reads them: one row per choice, plain arrays.

A row is one logged choice: a decision with one slot, or one slot of a decision that filled
several (then ``decision`` ties a decision's rows together, so that intervals resample whole
decisions). Its columns are the candidates the strategy chose among, padded to a common
width ``k`` (``candidates`` marks the real ones when rows have fewer than ``k``).

========================  ======  ===========================================================
field                     shape   what
========================  ======  ===========================================================
``action``                (n,)    column of the candidate the logging strategy chose, a_i
``propensity``            (n,)    probability with which it chose it, π_b(a_i | x_i) ∈ (0, 1]
``reward``                (n,)    what happened: 1/0 for a conversion, or a value
``target``                (n, k)  the target strategy's probabilities π_e(a | x_i) over the
                                  row's candidates; each row sums to 1 (one-hot when the
                                  target is deterministic)
``reward_model``          (n, k)  optional: a reward model's estimates q̂(x_i, a) for every
                                  candidate (the direct method and doubly robust need it)
``candidates``            (n, k)  optional: True where a column is a real candidate of the
                                  row; the target puts no probability elsewhere, and the
                                  reward model's values elsewhere are ignored (may be NaN,
                                  kept as 0)
``position``              (n,)    optional: the slot of the row (0, 1, …), for per-slot
                                  reports (``take``)
``decision``              (n,)    optional: the decision each row belongs to (any ids);
                                  without it every row is its own decision
========================  ======  ===========================================================

Building one validates it and refuses bad input with an ``OpeError`` naming the field (and
the row: ``propensity[3]: must be a probability in (0, 1], got 0``). The arrays are copies,
read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ...errors import NextofferError

__all__ = ["LoggedDecisions", "OpeError"]

Floats = NDArray[np.float64]
Ints = NDArray[np.intp]
_SUM_TOLERANCE = 1e-6  # how far a row of probabilities may be from summing to 1
_ONE_TOLERANCE = 1e-9  # a propensity this far above 1 is float noise, stored as 1


class OpeError(NextofferError):
    """Logged decisions, or an estimator's setting, that off-policy evaluation cannot use;
    raised when ``LoggedDecisions`` is built or an estimate is asked for. ``field`` names
    the input at fault (``propensity[3]``, ``target[0]``, ``reward_model``, ``tau``)."""


def _frozen(a: NDArray[Any]) -> NDArray[Any]:
    a.setflags(write=False)
    return a


def _first(bad: ArrayLike) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(bad)[0])


def _at(field: str, index: tuple[int, ...]) -> str:
    return field + "".join(f"[{i}]" for i in index)


def _floats(value: ArrayLike, field: str) -> Floats:
    try:
        return np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise OpeError(field, "must hold numbers") from exc


def _numbers(value: ArrayLike, field: str, shape: tuple[int, ...]) -> Floats:
    a = _floats(value, field)
    if a.shape != shape:
        raise OpeError(field, f"needs shape {shape}, got {a.shape}")
    return a


def _integers(value: ArrayLike, field: str, n: int | None) -> Ints:
    a = np.array(value)
    if a.ndim != 1 or (n is not None and a.shape[0] != n):
        want = "one value per row" if n is not None else "one dimension"
        raise OpeError(
            field, f"needs {want}{f' ({n})' if n is not None else ''}, got shape {a.shape}"
        )
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise OpeError(field, f"must hold integers, got {a.dtype}")
    return a.astype(np.intp)


def _finite(a: Floats, field: str, where: NDArray[np.bool_] | None = None) -> None:
    bad = ~np.isfinite(a) if where is None else where & ~np.isfinite(a)
    if bad.any():
        index = _first(bad)
        raise OpeError(_at(field, index), f"must be a finite number, got {a[index]}")


def _candidates(value: ArrayLike, target: Floats) -> NDArray[np.bool_]:
    candidates = np.array(value)
    if candidates.shape != target.shape or candidates.dtype != np.bool_:
        raise OpeError(
            "candidates",
            f"needs one True/False per cell of target {target.shape}, "
            f"got {candidates.dtype} of shape {candidates.shape}",
        )
    empty = ~candidates.any(axis=1)
    if empty.any():
        raise OpeError(_at("candidates", _first(empty)), "needs at least one candidate")
    return candidates


def _check_action(action: Ints, k: int, candidates: NDArray[np.bool_] | None) -> None:
    bad = (action < 0) | (action >= k)
    if bad.any():
        i = _first(bad)
        raise OpeError(
            _at("action", i), f"must be a column of target (0 to {k - 1}), got {action[i]}"
        )
    if candidates is not None:
        off = ~candidates[np.arange(action.shape[0]), action]
        if off.any():
            raise OpeError(_at("action", _first(off)), "is not one of the row's candidates")


def _propensity(value: ArrayLike, n: int) -> Floats:
    propensity = _numbers(value, "propensity", (n,))
    _finite(propensity, "propensity")
    bad = (propensity <= 0) | (propensity > 1 + _ONE_TOLERANCE)
    if bad.any():
        i = _first(bad)
        raise OpeError(
            _at("propensity", i), f"must be a probability in (0, 1], got {propensity[i]:g}"
        )
    return np.minimum(propensity, 1.0)


def _check_target(target: Floats, candidates: NDArray[np.bool_] | None) -> Floats:
    _finite(target, "target")
    negative = target < 0
    if negative.any():
        i = _first(negative)
        raise OpeError(_at("target", i), f"must be a probability (≥ 0), got {target[i]:g}")
    if candidates is not None:
        outside = ~candidates & (target > 0)
        if outside.any():
            raise OpeError(
                _at("target", _first(outside)),
                "puts probability on a column that is not a candidate",
            )
    sums = target.sum(axis=1)
    off_one = np.abs(sums - 1) > _SUM_TOLERANCE
    if off_one.any():
        i = _first(off_one)
        raise OpeError(
            _at("target", i), f"must sum to 1 over the row's candidates, got {sums[i]:g}"
        )
    return target


def _reward_model(
    value: ArrayLike, candidates: NDArray[np.bool_] | None, shape: tuple[int, ...]
) -> Floats:
    model = _numbers(value, "reward_model", shape)
    _finite(model, "reward_model", candidates)
    if candidates is not None:
        model[~candidates] = 0.0
    return model


def _position(value: ArrayLike, n: int) -> Ints:
    position = _integers(value, "position", n)
    negative = position < 0
    if negative.any():
        i = _first(negative)
        raise OpeError(_at("position", i), f"must be a slot number (≥ 0), got {position[i]}")
    return position


@dataclass(frozen=True, eq=False)
class LoggedDecisions:
    """Logged bandit data: what the logging strategy chose, with which probability, what it
    earned, and what the target strategy would choose (see the module's table).

    >>> data = LoggedDecisions(action=[0, 1], propensity=[0.5, 0.25], reward=[1.0, 0.0],
    ...                        target=[[1.0, 0.0], [0.5, 0.5]])
    >>> data.rows, data.columns, data.weights.tolist()
    (2, 2, [2.0, 2.0])
    """

    action: Ints
    propensity: Floats
    reward: Floats
    target: Floats
    reward_model: Floats | None = None
    candidates: NDArray[np.bool_] | None = None
    position: Ints | None = None
    decision: NDArray[Any] | None = None

    def __post_init__(self) -> None:
        action = _integers(self.action, "action", None)
        n = action.shape[0]
        if n == 0:
            raise OpeError("action", "needs at least one logged decision")
        target = _floats(self.target, "target")
        if target.ndim != 2 or target.shape[0] != n or target.shape[1] == 0:
            raise OpeError(
                "target",
                f"needs one row per logged decision ({n}) and one column per candidate, "
                f"got shape {target.shape}",
            )
        candidates = None if self.candidates is None else _candidates(self.candidates, target)
        _check_action(action, target.shape[1], candidates)
        reward = _numbers(self.reward, "reward", (n,))
        converted: dict[str, NDArray[Any] | None] = {
            "action": action,
            "propensity": _propensity(self.propensity, n),
            "reward": reward,
            "target": _check_target(target, candidates),
            "reward_model": None,
            "candidates": candidates,
            "position": None,
            "decision": None,
        }
        _finite(reward, "reward")
        if self.reward_model is not None:
            converted["reward_model"] = _reward_model(self.reward_model, candidates, target.shape)
        if self.position is not None:
            converted["position"] = _position(self.position, n)
        if self.decision is not None:
            decision = np.array(self.decision)
            if decision.shape != (n,):
                raise OpeError(
                    "decision", f"needs one id per row ({n}), got shape {decision.shape}"
                )
            converted["decision"] = decision
        for name, value in converted.items():  # frozen: the checked copies replace the input
            object.__setattr__(self, name, None if value is None else _frozen(value))
        if self.decision is not None:
            try:
                self.groups  # noqa: B018 -- numbered now, so that odd ids are refused now
            except TypeError as exc:
                raise OpeError("decision", "ids must be all numbers or all text") from exc

    @property
    def rows(self) -> int:
        """n: the number of logged choices."""
        return int(self.action.shape[0])

    @property
    def columns(self) -> int:
        """k: the number of candidate columns."""
        return int(self.target.shape[1])

    @cached_property
    def weights(self) -> Floats:
        """The importance weights w_i = π_e(a_i | x_i) / π_b(a_i | x_i)."""
        return _frozen(self.target[np.arange(self.rows), self.action] / self.propensity)

    @cached_property
    def groups(self) -> tuple[Ints, int]:
        """Each row's decision as 0 … G−1 (in order of first appearance) and G; without
        ``decision``, row i is decision i."""
        if self.decision is None:
            return _frozen(np.arange(self.rows, dtype=np.intp)), self.rows
        _, first, inverse = np.unique(self.decision, return_index=True, return_inverse=True)
        order = np.argsort(np.argsort(first))  # number decisions by first appearance
        return _frozen(order[inverse.reshape(-1)].astype(np.intp)), int(first.size)

    def take(self, rows: ArrayLike) -> LoggedDecisions:
        """The logged decisions at ``rows`` (indices or a boolean mask), e.g. one slot's:
        ``data.take(data.position == 0)``."""
        index = np.asarray(rows)
        if index.dtype == np.bool_ and index.shape != (self.rows,):
            raise OpeError("rows", f"a mask needs one True/False per row ({self.rows})")
        picked = np.arange(self.rows)[index]
        return LoggedDecisions(
            action=self.action[picked],
            propensity=self.propensity[picked],
            reward=self.reward[picked],
            target=self.target[picked],
            reward_model=_pick(self.reward_model, picked),
            candidates=_pick(self.candidates, picked),
            position=_pick(self.position, picked),
            decision=_pick(self.decision, picked),
        )


def _pick(a: NDArray[Any] | None, rows: Ints) -> NDArray[Any] | None:
    return None if a is None else a[rows]
