"""The plain data a snapshot is built from, and one customer's state.

Everything here is a Pydantic model that validates its own fields; ``build_snapshot`` then
checks what spans several of them (references between offers, rules, products and
placements; conditions against the customer schema) and compiles the conditions.

Units and ranges:

- ``priority``: 0–100, higher first. ``emphasis``: 0–1 (how much the business wants to push
  the offer; 0.5 is neutral).
- Money (``price``, ``cost``, ``value``) is in the shop's currency; scores of the
  ``expected_value`` and ``incremental_value`` strategies are in that currency too, while
  ``prie`` scores are in [0, 1].
- Windows of policies are rolling: a ``day`` is the last 24 hours, a ``week`` the last 7 days,
  a ``month`` the last 30 days before the request's ``at``.
"""

from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_right
from collections.abc import Iterable
from functools import cached_property
from operator import itemgetter
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..request import Moment
from ..rules import CustomerSchema, OfferSchema

__all__ = [
    "EXPLORATION_FIELDS",
    "PERIODS",
    "POLICY_FIELDS",
    "AttachEstimate",
    "ChannelSpec",
    "Contact",
    "CustomerState",
    "ExplorationName",
    "ExplorationSpec",
    "Guardrails",
    "History",
    "HoldoutSpec",
    "MatchSpec",
    "OfferSpec",
    "PlacementSpec",
    "PolicySpec",
    "PolicyTypeName",
    "ProductSpec",
    "RuleRevisionSpec",
    "Scope",
    "ScoringSpec",
    "Seen",
    "SnapshotSpec",
    "StrategyName",
    "UpliftEstimate",
    "Weights",
]

Id = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Money = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Priority = Annotated[int, Field(ge=0, le=100)]
Tau = Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)]
ConditionInput = str | dict[str, Any]

PERIODS: dict[str, dt.timedelta] = {
    "day": dt.timedelta(days=1),
    "week": dt.timedelta(days=7),
    "month": dt.timedelta(days=30),
}
Period = Literal["day", "week", "month"]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProductSpec(_Spec):
    sku: Id
    name: str = ""
    category: Id
    price: Money
    cost: Money = 0.0


class MatchSpec(_Spec):
    """A soft condition: the matched share of weights lifts the multiplier from 0.1 to 1."""

    condition: ConditionInput
    weight: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)] = 1.0


class OfferSpec(_Spec):
    """An offer: a product (``sku``) or an action (``value`` is what a taken action is worth).

    ``channels`` and ``placements`` restrict where it may appear (empty: anywhere). An ``open``
    offer is a candidate on its channels without a rule nominating it; otherwise only a rule
    whose trigger matches brings it in.
    """

    id: Id
    kind: Literal["product", "action"] = "product"
    sku: Id | None = None
    name: str = ""
    category: Id | None = None
    value: Money | None = None
    priority: Priority = 50
    emphasis: Share = 0.5
    eligibility: ConditionInput | None = None
    fit: ConditionInput | None = None
    match: tuple[MatchSpec, ...] = ()
    channels: tuple[Id, ...] = ()
    placements: tuple[Id, ...] = ()
    open: bool = False
    status: Literal["active", "paused", "retired"] = "active"
    attributes: dict[str, Any] = Field(default_factory=dict)
    tags: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _product_or_action(self) -> OfferSpec:
        if self.kind == "product" and self.sku is None:
            raise ValueError("a product offer needs 'sku'")
        if self.kind == "action" and self.value is None:
            raise ValueError("an action offer needs 'value' (what a taken action is worth)")
        if self.kind == "action" and self.sku is not None:
            raise ValueError("an action offer has no 'sku'")
        return self


class RuleRevisionSpec(_Spec):
    """The live revision of a rule: a trigger over the request that nominates offers."""

    id: Id
    revision: Annotated[int, Field(ge=1)] = 1
    trigger: ConditionInput
    offers: Annotated[tuple[Id, ...], Field(min_length=1)]
    priority: Priority = 50
    description: str = ""


class Scope(_Spec):
    """Which candidates a policy applies to: all (``global``), or those of a channel, category
    or offer (``value``), or of any of several (``values``)."""

    level: Literal["global", "channel", "category", "offer"] = "global"
    value: Id | None = None
    values: tuple[Id, ...] = ()

    @model_validator(mode="after")
    def _value_when_needed(self) -> Scope:
        given = self.value is not None or bool(self.values)
        if self.value is not None and self.values:
            raise ValueError("give 'value' or 'values', not both")
        if (self.level == "global") == given:
            raise ValueError(
                "a global scope has no 'value'; a channel, category or offer scope needs one"
            )
        return self

    @property
    def members(self) -> frozenset[str]:
        """The channels, categories or offers in scope (empty for global)."""
        return frozenset(self.values) if self.values else frozenset(filter(None, [self.value]))

    def __str__(self) -> str:
        if self.level == "global":
            return "global"
        return f"{self.level} {', '.join(sorted(self.members))}"


# The contact-policy types, and the fields each needs. Each has its entry in the registry of
# ``policies.py`` (how it compiles and checks); importing that module checks that both agree.
PolicyTypeName = Literal[
    "frequency_cap",
    "total_cap",
    "cooldown",
    "outcome_suppression",
    "session_backoff",
    "do_not_contact",
    "mutual_exclusion",
]
POLICY_FIELDS: dict[str, tuple[str, ...]] = {
    "frequency_cap": ("limit", "period"),
    "total_cap": ("limit", "period"),
    "cooldown": ("hours",),
    "outcome_suppression": ("declines", "days"),
    "session_backoff": ("declines",),
    "do_not_contact": (),
    "mutual_exclusion": ("offers",),
}


class PolicySpec(_Spec):
    """A contact policy. Which fields apply depends on ``type``:

    - ``frequency_cap``: each offer in scope at most ``limit`` contacts per ``period``;
    - ``total_cap``: at most ``limit`` contacts per ``period`` across all offers in scope;
    - ``cooldown``: at least ``hours`` since the last contact with the same offer;
    - ``outcome_suppression``: after ``declines`` declines of an offer within ``days`` days,
      suppress it (until fewer than that many fall in the window);
    - ``session_backoff``: after ``declines`` declines in the request's session, offer
      nothing more in that session;
    - ``do_not_contact``: honour the customer's opt-outs (all, a channel, a category, an
      offer) for candidates in scope;
    - ``mutual_exclusion``: at most one of ``offers`` in one decision (the best ranked).

    Policies are checked in order of ``priority`` (highest first); the first that blocks a
    candidate is the reason recorded.
    """

    id: Id
    type: PolicyTypeName
    scope: Scope = Field(default_factory=Scope)
    priority: Priority = 50
    limit: Annotated[int, Field(ge=0)] | None = None
    period: Period | None = None
    hours: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    declines: Annotated[int, Field(ge=1)] | None = None
    days: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    offers: tuple[Id, ...] = ()

    @model_validator(mode="after")
    def _fields_for_type(self) -> PolicySpec:
        needed = POLICY_FIELDS[self.type]
        missing = [name for name in needed if getattr(self, name) in (None, ())]
        if missing:
            raise ValueError(f"a {self.type} policy needs {', '.join(repr(m) for m in missing)}")
        if self.type == "mutual_exclusion" and len(set(self.offers)) < 2:
            raise ValueError("a mutual_exclusion policy needs at least two different offers")
        return self


class PlacementSpec(_Spec):
    id: Id
    slots: Annotated[int, Field(ge=1, le=100)] = 1
    fallback_offer: Id | None = None


class Weights(_Spec):
    """PRIE weights: Wp, Wr, Wi, We must sum to 1; Wu weighs the uplift factor."""

    propensity: Share = 0.4
    relevance: Share = 0.2
    impact: Share = 0.3
    emphasis: Share = 0.1
    uplift: Share = 0.0

    @model_validator(mode="after")
    def _sum_to_one(self) -> Weights:
        total = self.propensity + self.relevance + self.impact + self.emphasis
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ValueError(
                f"propensity + relevance + impact + emphasis must sum to 1, got {total:g}"
            )
        return self


# The scoring strategies. Each has its entry in the registry of ``scoring.py`` (how it scores,
# its unit); importing that module checks that both agree.
StrategyName = Literal["expected_value", "prie", "incremental_value"]


class ScoringSpec(_Spec):
    """How a channel scores candidates, and its minimum score (default: the guardrail's)."""

    strategy: StrategyName = "expected_value"
    weights: Weights = Field(default_factory=Weights)
    uplift_scale: Annotated[float, Field(gt=0, le=1)] = 0.1
    min_score: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None


# The exploration kinds. Each has its entry in the registry of ``exploration.py`` (how it
# chooses in a slot, with which probability); importing that module checks that both agree.
ExplorationName = Literal["greedy", "epsilon_greedy", "thompson", "softmax"]

# the settings each kind takes (required, or with a default); any other is refused
EXPLORATION_FIELDS: dict[str, dict[str, Any]] = {
    "greedy": {},
    "epsilon_greedy": {"epsilon": None, "floor": 0.0},
    "thompson": {"draws": 200},
    "softmax": {"temperature": None},
}


class ExplorationSpec(_Spec):
    """How a channel chooses among the candidates that passed every filter, slot by slot
    (with ``scoring``, the channel's **strategy**; see ``exploration.py``):

    - ``greedy``: the top of the rank, always (probability 1; the default);
    - ``epsilon_greedy``: the top of the rank with probability 1 − ``epsilon``, otherwise
      any available candidate at random; ``floor`` is the least probability any available
      candidate gets (default 0: exactly ε ÷ k each);
    - ``thompson``: attach rates (and τ, where the strategy reads it and the customer's
      state gives its interval) drawn from their posteriors, then ranked as the greedy
      rank ranks the estimates; the probabilities are the shares of ``draws`` draws (200);
    - ``softmax``: among the candidates of the highest priority available, probability
      ∝ exp(score ÷ ``temperature``), the temperature in the scores' unit.
    """

    kind: ExplorationName = "greedy"
    epsilon: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = Field(
        None, validate_default=True
    )
    floor: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = Field(
        None, validate_default=True
    )
    temperature: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = Field(
        None, validate_default=True
    )
    draws: Annotated[int, Field(ge=1, le=10_000)] | None = Field(None, validate_default=True)

    @field_validator("epsilon", "floor", "temperature", "draws")
    @classmethod
    def _for_the_kind(cls, value: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("kind")
        if kind is None:  # the kind itself is invalid: that is the error to report
            return value
        name = info.field_name
        assert name is not None
        takes = EXPLORATION_FIELDS[kind]
        if name not in takes:
            if value is not None:
                users = [k for k, fields in EXPLORATION_FIELDS.items() if name in fields]
                raise ValueError(f"{name!r} is a setting of {' and '.join(users)}, not {kind}")
        elif value is None and takes[name] is None:
            raise ValueError(f"{kind} needs {name!r}")
        return value

    def setting(self, name: str) -> Any:
        """A setting's value, its default when not given."""
        value = getattr(self, name)
        return EXPLORATION_FIELDS[self.kind][name] if value is None else value

    @property
    def text(self) -> str:
        """Canonical and short: ``epsilon_greedy(epsilon=0.1,floor=0)``, ``greedy``."""
        fields = EXPLORATION_FIELDS[self.kind]
        if not fields:
            return self.kind
        return f"{self.kind}({','.join(f'{k}={self.setting(k):g}' for k in fields)})"


class ChannelSpec(_Spec):
    """A channel: its placements, their coupling, and its strategy (``scoring`` and
    ``exploration``)."""

    id: Id
    placements: Annotated[tuple[PlacementSpec, ...], Field(min_length=1)]
    coupling: Literal["partial", "atomic"] = "partial"
    scoring: ScoringSpec = Field(default_factory=ScoringSpec)
    exploration: ExplorationSpec = Field(default_factory=ExplorationSpec)


class Guardrails(_Spec):
    """Gates: the minimum score (in the strategy's unit) and the price-delta cap."""

    min_score: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.15
    max_price_share: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = 0.35


class HoldoutSpec(_Spec):
    """A deterministic share of customers forms the control group of ``experiment``."""

    experiment: Id = "holdout"
    share: Share = 0.10
    fallback_offer: Id | None = None
    channels: tuple[Id, ...] = ()


class AttachEstimate(_Spec):
    """How often an offer was accepted when shown: when nominated by ``rule`` (or by no
    rule, or whatever nominated it) on ``channel`` (or on any). The engine's attach rates
    are estimated from these counts with hierarchical shrinkage (``core.learning.attach``)."""

    offer: Id
    rule: Id | None = None
    channel: Id | None = None
    shown: Annotated[int, Field(ge=0)]
    accepted: Annotated[int, Field(ge=0)]

    @model_validator(mode="after")
    def _at_most_shown(self) -> AttachEstimate:
        if self.accepted > self.shown:
            raise ValueError("'accepted' cannot exceed 'shown'")
        return self


class UpliftEstimate(_Spec):
    """The average effect τ of an offer on conversion (from an uplift model), per offer."""

    offer: Id
    tau: Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)]
    segment: str | None = None


class SnapshotSpec(_Spec):
    """Everything a decision needs, as plain data. ``build_snapshot`` compiles it."""

    version: Id
    customer_schema: CustomerSchema = Field(default_factory=CustomerSchema)
    offer_schema: OfferSchema = Field(default_factory=OfferSchema)
    products: tuple[ProductSpec, ...] = ()
    offers: tuple[OfferSpec, ...] = ()
    rules: tuple[RuleRevisionSpec, ...] = ()
    policies: tuple[PolicySpec, ...] = ()
    channels: tuple[ChannelSpec, ...] = ()
    guardrails: Guardrails = Field(default_factory=Guardrails)
    holdout: HoldoutSpec | None = None
    attach_prior: Share = 0.05
    attach_prior_strength: Annotated[float, Field(gt=0, le=1e6)] = 20.0
    attach: tuple[AttachEstimate, ...] = ()
    uplift: tuple[UpliftEstimate, ...] = ()
    trace_sample_rate: Share = 1.0


class Contact(_Spec):
    """One entry of the customer's contact history (from the ledger)."""

    offer: Id
    channel: Id | None = None
    at: Moment
    outcome: Literal["shown", "accepted", "declined"] = "shown"
    session_id: str | None = None


class CustomerState(_Spec):
    """What is known about one customer when a decision is made.

    ``cate``: per-offer effect estimates τ for this customer (from an uplift model), which
    override the snapshot's per-offer averages; ``cate_intervals`` their 95% intervals
    (lower, upper) where known, from which Thompson sampling draws τ; ``uplift_segments``
    names the customer's uplift segment per offer where the model gives one. ``opt_outs``: ``"all"``, or channel,
    category or offer ids the customer must not be contacted about.
    """

    id: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    holdings: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    history: tuple[Contact, ...] = ()
    cate: dict[str, Tau] = Field(default_factory=dict)
    cate_intervals: dict[str, tuple[Tau, Tau]] = Field(default_factory=dict)
    uplift_segments: dict[str, str] = Field(default_factory=dict)
    opt_outs: tuple[str, ...] = ()

    @field_validator("cate_intervals")
    @classmethod
    def _ordered(cls, value: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for offer, (lower, upper) in value.items():
            if lower > upper:
                raise ValueError(f"{offer}: the lower bound {lower:g} is above the upper {upper:g}")
        return value

    @field_validator("history")
    @classmethod
    def _sorted(cls, value: tuple[Contact, ...]) -> tuple[Contact, ...]:
        return tuple(sorted(value, key=lambda c: c.at))

    def model_post_init(self, context: Any, /) -> None:
        self.compact_history  # noqa: B018 -- built with the state, not in a decision

    @classmethod
    def from_seen(cls, seen: Iterable[Seen], **fields: Any) -> CustomerState:
        """A state whose contacts come as ``Seen`` tuples, as the service reads them from the
        ledger (validated when they were written), without a ``Contact`` model per contact:
        building and validating those cost about ten times the engine's own work on a long
        history. ``history`` stays empty; the engine reads only ``compact_history``."""
        if "history" in fields:
            raise TypeError("from_seen takes the contacts as seen, not history")
        state = cls(**fields)
        state.__dict__["compact_history"] = History(tuple(sorted(seen, key=_time)))
        return state

    @classmethod
    def from_store(
        cls,
        seen: Iterable[Seen],
        *,
        id: str,
        attributes: dict[str, Any],
        holdings: tuple[str, ...],
        segments: tuple[str, ...],
        cate: dict[str, float],
        cate_intervals: dict[str, tuple[float, float]],
        uplift_segments: dict[str, str],
    ) -> CustomerState:
        """``from_seen`` without validating the fields again, for values the service read
        from its own store, which validated them when they were written (the estimates
        clipped to [-1, 1] and their intervals ordered by the read): a campaign customer's
        state in a third of the time (4.5 µs instead of 13, on the shared 2-core machine:
        the validation of its dicts and tuples)."""
        state = cls.__new__(cls)
        values = {"id": id, "attributes": attributes, "holdings": holdings,
                  "segments": segments, "history": (), "cate": cate,
                  "cate_intervals": cate_intervals, "uplift_segments": uplift_segments,
                  "opt_outs": (), "compact_history": History(tuple(sorted(seen, key=_time)))}  # fmt: skip
        object.__setattr__(state, "__dict__", values)
        object.__setattr__(state, "__pydantic_fields_set__", _STORED_FIELDS)
        object.__setattr__(state, "__pydantic_extra__", None)
        object.__setattr__(state, "__pydantic_private__", None)
        return state

    @cached_property
    def compact_history(self) -> History:
        """The history as ``Seen`` tuples (times in POSIX seconds) with the lookup tables the
        policies read: built once per state, then read as a plain attribute."""
        return History(
            tuple(
                Seen(c.offer, c.channel, c.outcome, c.session_id, c.at.timestamp())
                for c in self.history
            )
        )


# the fields ``CustomerState.from_store`` sets, as validation would have counted them
_STORED_FIELDS = frozenset({"id", "attributes", "holdings", "segments", "cate",
                            "cate_intervals", "uplift_segments"})  # fmt: skip


class Seen(NamedTuple):
    """A contact from the history, its time as POSIX seconds."""

    offer: str
    channel: str | None
    outcome: str
    session_id: str | None
    t: float


_time = itemgetter(4)  # Seen.t


class History:
    """A customer's contacts, oldest first, with the tables the policies look things up in."""

    __slots__ = ("by_offer", "declines_by_session", "seen", "shown_before", "times")

    def __init__(self, seen: tuple[Seen, ...]) -> None:
        self.seen = seen
        self.times = [c.t for c in seen]
        # shown_before[i]: how many of seen[:i] were shown (a prefix count, for windows)
        self.shown_before = [0]
        self.by_offer: dict[str, list[Seen]] = {}
        self.declines_by_session: dict[str | None, int] = {}
        for c in seen:
            self.shown_before.append(self.shown_before[-1] + (c.outcome == "shown"))
            self.by_offer.setdefault(c.offer, []).append(c)
            if c.outcome == "declined":
                self.declines_by_session[c.session_id] = (
                    self.declines_by_session.get(c.session_id, 0) + 1
                )

    def until(self, t: float) -> History:
        """The contacts up to time ``t`` (a replay must not see what came after)."""
        if not self.seen or self.seen[-1].t <= t:
            return self
        return History(tuple(c for c in self.seen if c.t <= t))

    def shown_since(self, t: float) -> int:
        """How many contacts were shown after time ``t``."""
        return self.shown_before[-1] - self.shown_before[bisect_right(self.times, t)]
