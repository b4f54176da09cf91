"""From the ledger's logged decisions and a target snapshot to ``LoggedDecisions``.

A logged decision (``LoggedDecision``, read from its stored JSON by ``logged``) says, slot
by slot, which offer the logging strategy chose, with which probability, among which
candidates (each with the attach rate p the logging snapshot gave it), and what became of
each offer shown (accepted or not; the value of its conversions). ``replay`` decides each
logged request again on the target snapshot, with the customer as the engine saw them (the
decision's stored features) and **the decision's id as the seed**, so that a target that
explores gives the probabilities with which it would have chosen, and a target that does
not gives its one choice (probability 1). The target's probabilities for each logged slot
(the same placement and slot) become a row of ``LoggedDecisions``:

- the columns are the logged candidates, then the offers only the target would consider
  there, then "nothing" where the target would leave the slot empty (no reward: nothing
  shown earns nothing);
- the reward model q̂ (for the direct method and doubly robust) is the attach rate p of
  each candidate (the logged one where the logs have it, else the target's), times the
  offer's value for revenue: what an accept of it earned on average in the logs, where
  the logs have one, else its price, else its margin;
- the rewards are the logged outcomes: 1 when the offer shown was accepted, and the value
  of its conversions.

**Support.** Two things leave the logs silent about a target's choice, and both are counted
(``Coverage``) and said in ``warnings``: the target chooses an offer that was not among the
logged candidates (the logging strategy could never have shown it there), or the logged
decision was deterministic (a greedy strategy: probability 1, one candidate) and the target
chooses differently. The weighting estimators count such choices as no reward (a downward
bias); the reward-model estimates take the model's word for them. Deterministic logs are
never taken for exploration: they are one-candidate rows with propensity 1.

**What is skipped**, with its reason (``Replay.skipped``): decisions in the control group
(they showed the fallback, not the strategy's choice), decisions where the strategy chose
nothing, decisions an atomic channel emptied, decisions whose logged choices lack a usable
probability or their candidates, and requests the target cannot decide (a channel it does
not have, a request or customer that no longer validates).

Not replayed: the customer's contact history (the contact policies count nothing, as in the
backtest) and per-customer uplift estimates (the target's per-offer τ is used). Everything
here is pure: plain data in, arrays out.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import ValidationError

from ...decision import CustomerState, Decision, DecisionError, Snapshot, decide
from ...request import Request
from .data import LoggedDecisions

__all__ = [
    "METRICS",
    "NOTHING",
    "Coverage",
    "LoggedDecision",
    "LoggedSlot",
    "Replay",
    "logged",
    "replay",
]

METRICS = ("acceptance", "revenue")
NOTHING = "(nothing)"  # the column of a slot the target leaves empty

SKIP_CONTROL = "in the control group (shown the fallback, not the strategy's choice)"
SKIP_NOTHING = "the strategy chose nothing (no candidate was left)"
SKIP_CASCADE = "an atomic channel emptied it (nothing the strategy chose was shown)"
SKIP_INCOMPLETE = "its logged choices lack a probability in (0, 1] or their candidates"
SKIP_UNREADABLE = "its stored request or customer no longer validates"


@dataclass(frozen=True, slots=True)
class LoggedSlot:
    """One slot of a logged decision: the offer chosen, its probability, and the
    candidates it was chosen among as (offer, attach rate p, probability)."""

    placement: str
    slot: int
    offer: str
    probability: float
    candidates: tuple[tuple[str, float, float], ...]


@dataclass(frozen=True, slots=True)
class LoggedDecision:
    """A decision as the ledger logged it, with its outcomes. ``deterministic``: logged by a
    greedy strategy (no exploration record). ``accepted`` and ``revenue``: per offer shown,
    whether it was accepted (1.0 or 0.0) and the value of its conversions. ``skip``: why it
    cannot be evaluated (None: it can)."""

    id: str
    channel: str
    at: dt.datetime
    request: Request | None
    state: CustomerState | None
    strategy: str
    deterministic: bool
    slots: tuple[LoggedSlot, ...]
    accepted: Mapping[str, float] = field(default_factory=dict)
    revenue: Mapping[str, float] = field(default_factory=dict)
    skip: str | None = None


def _state(customer_id: str | None, features: Mapping[str, Any] | None) -> CustomerState | None:
    if customer_id is None:
        return None
    features = features or {}
    return CustomerState(
        id=customer_id,
        attributes=dict(features.get("attributes") or {}),
        holdings=tuple(features.get("holdings") or ()),
        segments=tuple(features.get("segments") or ()),
    )


def _greedy_slots(placements: Iterable[Mapping[str, Any]]) -> tuple[LoggedSlot, ...]:
    out = []
    for p in placements:
        slot = 0
        for s in p.get("offers", ()):
            if s.get("fallback"):
                continue
            slot += 1
            probability = float(s.get("probability", 1.0))
            p_rate = float(s.get("p") or 0.0)
            out.append(LoggedSlot(p["placement"], slot, s["offer"], probability,
                                  ((s["offer"], p_rate, probability),)))  # fmt: skip
    return tuple(out)


def logged(
    *,
    id: str,
    channel: str,
    occurred_at: dt.datetime,
    customer_id: str | None,
    control: bool,
    request: Mapping[str, Any],
    decision: Mapping[str, Any],
    features: Mapping[str, Any] | None,
    accepted: Mapping[str, float] | None = None,
    revenue: Mapping[str, float] | None = None,
) -> LoggedDecision:
    """A logged decision from its stored columns (``decisions.request``, ``decision``,
    ``features``) and its outcomes per offer shown."""
    at = occurred_at if occurred_at.tzinfo is not None else occurred_at.replace(tzinfo=dt.UTC)
    exploration = decision.get("exploration")
    skip: str | None = None
    if exploration:
        strategy = str(exploration.get("strategy", "?"))
        slots = tuple(
            LoggedSlot(s["placement"], int(s["slot"]), s["offer"], float(s["probability"]),
                       tuple((c["offer"], float(c.get("p") or 0.0), float(c["probability"]))
                             for c in s.get("candidates", ())))
            for s in exploration.get("slots", ())
        )  # fmt: skip
        deterministic = False
    else:
        strategy = "greedy"
        slots = _greedy_slots(decision.get("placements", ()))
        deterministic = True
    if any(not 0.0 < s.probability <= 1.0 or s.offer not in {c[0] for c in s.candidates}
           for s in slots):  # fmt: skip
        skip = SKIP_INCOMPLETE
    elif control:
        skip = SKIP_CONTROL
    elif decision.get("cascade"):
        skip = SKIP_CASCADE
    elif not slots:
        skip = SKIP_NOTHING
    parsed: Request | None = None
    state: CustomerState | None = None
    if skip is None:
        try:
            parsed = Request.model_validate({**request, "at": request.get("at") or at})
            state = _state(customer_id, features)
        except (ValidationError, TypeError, AttributeError):
            skip = SKIP_UNREADABLE
    return LoggedDecision(
        id=id, channel=channel, at=at, request=parsed, state=state,
        strategy=strategy, deterministic=deterministic, slots=slots,
        accepted=dict(accepted or {}), revenue=dict(revenue or {}), skip=skip,
    )  # fmt: skip


# -- the target's choices ------------------------------------------------------------------

# (placement, slot) → the target's probabilities and attach rates by offer
Choices = dict[tuple[str, int], tuple[dict[str, float], dict[str, float]]]


def _choices(decision: Decision) -> Choices:
    """What the target would choose in each slot: its exploration record, or (a greedy
    target) the offers it places, each with probability 1. Fallbacks are not choices."""
    out: Choices = {}
    if decision.exploration is not None:
        for s in decision.exploration.slots:
            cands = s.candidates
            out[(s.placement, s.slot)] = ({c[0]: c[3] for c in cands if c[3] > 0},
                                          {c[0]: c[2] for c in cands})  # fmt: skip
        return out
    placements = decision.counterfactual if decision.control else decision.placements
    for p in placements:
        slot = 0
        for shown in p.offers:
            if shown.fallback:
                continue
            slot += 1
            out[(p.placement, slot)] = ({shown.offer: 1.0}, {shown.offer: shown.p or 0.0})
    return out


@dataclass(frozen=True)
class Coverage:
    """How well the logged slots cover the target's choices.

    ``rows``: logged slots used; ``deterministic_rows``: of them, logged with probability 1
    by a greedy strategy, and ``deterministic_differing`` those where the target would
    choose otherwise (with ``deterministic_mass`` the share of the target's choices over
    all rows that falls there); ``outside_rows``: slots logged by an exploring strategy where
    the target would consider an offer that was not among the logged candidates, and
    ``outside_mass`` the share of its choices (over all rows) on such offers; ``empty_rows``: slots the target would leave empty."""

    rows: int
    deterministic_rows: int
    deterministic_differing: int
    deterministic_mass: float
    outside_rows: int
    outside_mass: float
    empty_rows: int

    def warnings(self) -> list[str]:
        out = []
        if self.deterministic_differing:
            out.append(
                f"no support: {self.deterministic_differing} of {self.deterministic_rows} "
                f"slots logged deterministically (probability 1: a greedy strategy or a lone "
                f"candidate) would be "
                f"filled otherwise by the target ({self.deterministic_mass:.1%} of its "
                f"choices); the logs cannot judge those choices"
            )
        elif self.deterministic_rows:
            out.append(
                f"{self.deterministic_rows} of {self.rows} slots were logged deterministically "
                f"(probability 1); the target agrees with them, so they judge nothing else"
            )
        if self.outside_rows:
            out.append(
                f"no support: on {self.outside_rows} of {self.rows} slots the target would "
                f"consider offers that were not among the logged candidates "
                f"({self.outside_mass:.1%} of its choices); the weighted estimates count "
                f"them as no reward, the reward-model estimates take the model's word"
            )
        return out


@dataclass(frozen=True)
class Replay:
    """The logs as the estimators read them, for each metric (``data``: None when no
    decision could be used), with the logging strategy's own value per metric
    (``observed``, per logged slot), the decisions used and skipped (by reason), the
    logging strategies seen (by name: slots), the coverage, and each row's columns
    (``offers``: the offer of each column of ``target``, ``NOTHING`` for an empty slot)."""

    data: Mapping[str, LoggedDecisions | None]
    observed: Mapping[str, float | None]
    decisions: int
    skipped: Mapping[str, int]
    strategies: Mapping[str, int]
    coverage: Coverage
    offers: tuple[tuple[str, ...], ...] = ()


def _value(snapshot: Snapshot, values: Mapping[str, float], offer: str) -> float:
    if offer in values:
        return values[offer]
    o = snapshot.offers.get(offer)
    if o is None:
        return 0.0
    return float(o.price) if o.price is not None else float(o.margin)


def replay(
    target: Snapshot, logs: Iterable[LoggedDecision], values: Mapping[str, float] | None = None
) -> Replay:
    """Replay every logged decision on ``target`` (see the module): the rows of both
    metrics, what was skipped and why, and the coverage. ``values``: what an accepted offer
    earned on average in the logs (the value of its conversions per accept), the revenue
    reward model's value where known; otherwise the offer's price, else its margin."""
    values = values or {}
    skipped: Counter[str] = Counter()
    strategies: Counter[str] = Counter()
    action: list[int] = []
    propensity: list[float] = []
    rewards: dict[str, list[float]] = {m: [] for m in METRICS}
    targets: list[list[float]] = []
    models: dict[str, list[list[float]]] = {m: [] for m in METRICS}
    masks: list[list[bool]] = []
    position: list[int] = []
    ids: list[str] = []
    offers: list[tuple[str, ...]] = []
    det_rows = det_differing = outside_rows = empty_rows = 0
    det_mass = outside_mass = 0.0
    used = 0
    for log in logs:
        if log.skip is not None:
            skipped[log.skip] += 1
            continue
        assert log.request is not None
        try:
            decision = decide(target, log.request, log.state, now=log.at, contacts_at=log.at,
                              detail=False, seed=log.id)  # fmt: skip
        except DecisionError as exc:
            skipped[f"the target cannot decide it ({exc.field}: {exc.message})"] += 1
            continue
        choices = _choices(decision)
        used += 1
        for i, slot in enumerate(log.slots):
            chosen, rates = choices.get((slot.placement, slot.slot), ({NOTHING: 1.0}, {}))
            columns = [c[0] for c in slot.candidates]
            logged_p = {c[0]: c[1] for c in slot.candidates}
            known = set(columns)
            extra = [o for o in chosen if o not in known]
            columns += extra
            row = [chosen.get(o, 0.0) for o in columns]
            p = [logged_p.get(o, rates.get(o, 0.0)) if o != NOTHING else 0.0 for o in columns]
            value = [_value(target, values, o) for o in columns]
            action.append(columns.index(slot.offer))
            propensity.append(slot.probability)
            targets.append(row)
            masks.append([True] * len(columns))
            models["acceptance"].append(p)
            models["revenue"].append([a * v for a, v in zip(p, value, strict=True)])
            rewards["acceptance"].append(float(log.accepted.get(slot.offer, 0.0)))
            rewards["revenue"].append(float(log.revenue.get(slot.offer, 0.0)))
            position.append(i)
            ids.append(log.id)
            offers.append(tuple(columns))
            strategies[log.strategy] += 1
            on_chosen = row[action[-1]]
            if NOTHING in chosen:
                empty_rows += 1
            if log.deterministic or slot.probability >= 1.0:
                det_rows += 1
                if on_chosen < 1.0:
                    det_differing += 1
                    det_mass += 1.0 - on_chosen
                continue  # a deterministic row's other choices are counted there
            off = sum(chosen[o] for o in extra if o != NOTHING)
            if off > 0:
                outside_rows += 1
                outside_mass += off
    n = len(action)
    coverage = Coverage(rows=n, deterministic_rows=det_rows, deterministic_differing=det_differing,
                        deterministic_mass=det_mass / n if n else 0.0, outside_rows=outside_rows,
                        outside_mass=outside_mass / n if n else 0.0,
                        empty_rows=empty_rows)  # fmt: skip
    data: dict[str, LoggedDecisions | None] = {}
    observed: dict[str, float | None] = {}
    width = max((len(r) for r in targets), default=0)
    for metric in METRICS:
        if not n:
            data[metric], observed[metric] = None, None
            continue
        data[metric] = LoggedDecisions(
            action=np.array(action, dtype=np.intp),
            propensity=np.array(propensity),
            reward=np.array(rewards[metric]),
            target=_padded(targets, width),
            reward_model=_padded(models[metric], width),
            candidates=_padded(masks, width, fill=False, dtype=np.bool_),
            position=np.array(position, dtype=np.intp),
            decision=np.array(ids),
        )
        observed[metric] = float(np.sum(rewards[metric])) / n
    return Replay(data=data, observed=observed, decisions=used, skipped=dict(skipped),
                  strategies=dict(strategies), coverage=coverage, offers=tuple(offers))  # fmt: skip


def _padded(
    rows: list[list[Any]], width: int, *, fill: Any = 0.0, dtype: Any = np.float64
) -> np.ndarray[Any, Any]:
    out = np.full((len(rows), width), fill, dtype=dtype)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out
