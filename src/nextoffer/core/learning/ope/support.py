"""How much the logs can say about the target strategy: importance weights and their support.

- **Effective sample size** (Kish): ESS = (Σ w_i)² / Σ w_i², the number of on-policy
  decisions the weighted logs are worth (n when every weight is 1; 0 when all are 0).
- **Largest weight** max w_i: one decision counting as that many; a large one means the
  target often picks what the logging strategy rarely did.
- **Zero-weight rows**: decisions whose logged choice the target would never make.
- **Deterministic rows**: decisions logged with probability 1. The logging strategy could
  not have shown anything else there, so wherever the target would choose another candidate
  the logs say nothing: ``unsupported_mass`` is that share of the target's choices, the mean
  over all rows of 1 − π_e(a_i | x_i) on rows with π_b(a_i | x_i) = 1. The weighting
  estimators count it as no reward (a downward bias), the reward-model ones take the
  model's word for it.

``warnings`` say it in words, for every estimate made from the data: no support at all, an
ESS under ``LOW_SUPPORT`` (10%) of the decisions, and any unsupported mass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import LoggedDecisions

__all__ = ["LOW_SUPPORT", "Support", "support"]

LOW_SUPPORT = 0.10  # an effective sample size under this share of the rows is a warning


@dataclass(frozen=True, slots=True)
class Support:
    """The diagnostics of the importance weights (see the module)."""

    rows: int
    decisions: int
    effective_sample_size: float
    max_weight: float
    zero_weight_rows: int
    deterministic_rows: int
    unsupported_mass: float
    warnings: tuple[str, ...]


def support(data: LoggedDecisions) -> Support:
    """The support diagnostics of ``data``'s importance weights."""
    w = data.weights
    n = data.rows
    total, squares = float(w.sum()), float(w @ w)
    ess = total * total / squares if squares > 0 else 0.0
    max_weight = float(w.max())
    deterministic = data.propensity == 1.0
    chosen = data.target[np.arange(n), data.action]
    unsupported = float(np.where(deterministic, 1.0 - chosen, 0.0).sum() / n)
    warnings: list[str] = []
    if total == 0:
        warnings.append(
            "no support: the target strategy never chooses what the logging strategy chose, "
            "so the logged rewards say nothing about it (the reward-model estimates rest on "
            "the model alone)"
        )
    elif ess < LOW_SUPPORT * n:
        warnings.append(
            f"little support: the effective sample size is {ess:.1f} of {n} logged "
            f"decisions (under {LOW_SUPPORT:.0%}); the largest weight is {max_weight:.3g}"
        )
    if unsupported > 0:
        warnings.append(
            f"{int(deterministic.sum())} of {n} decisions were logged deterministically "
            f"(probability 1); on them the target strategy puts {unsupported:.1%} of its "
            f"choices on candidates the logs never showed, which the weighted estimates "
            f"count as no reward and the reward-model estimates take from the model"
        )
    return Support(
        rows=n,
        decisions=data.groups[1],
        effective_sample_size=ess,
        max_weight=max_weight,
        zero_weight_rows=int((w == 0).sum()),
        deterministic_rows=int(deterministic.sum()),
        unsupported_mass=unsupported,
        warnings=tuple(warnings),
    )
