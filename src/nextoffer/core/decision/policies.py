"""Contact policies: caps, cooldowns, suppression after declines, back-off, opt-outs.

``compile_policies`` turns the snapshot's policy specs into ``ContactPolicy`` records once,
when the snapshot is built (windows in seconds, scope members as sets, the scope's text, and
the type's checks); ``PolicyCheck`` is built once per decision from the customer's history,
and ``blocked(offer)`` then answers, for one candidate, the first policy (by priority) that
stops it and why.

Each contact-policy type is one entry of ``POLICY_TYPES`` (a ``PolicyType``): how it
compiles (its window), whether it is per-offer or shared, its unit, and its checks with
their reason text. Adding a type is its value and needed fields in ``spec.py`` and its
entry here; importing this module checks that the two agree, and a type without an entry is
refused when it is compiled, never treated as another.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import get_args

from ..registry import Registry
from .offer import Offer
from .spec import PERIODS, POLICY_FIELDS, CustomerState, History, PolicySpec, PolicyTypeName, Seen

__all__ = ["POLICY_TYPES", "ContactPolicy", "PolicyCheck", "PolicyType", "compile_policies"]

_PERIOD_WORDS = {"day": "today", "week": "this week", "month": "this month"}

# A policy's reason for one candidate (None: it does not stop it), from the decision's check,
# the policy, the offer and the offer's own contacts (empty for an offer without any).
OfferCheck = Callable[["PolicyCheck", "ContactPolicy", Offer, list[Seen]], "str | None"]
# A shared policy's answer for a whole decision: a reason (it stops every candidate in its
# scope), False (it stops none), or True (it may: ask its ``check`` for each candidate).
SharedCheck = Callable[["PolicyCheck", "ContactPolicy"], "str | bool"]


@dataclass(frozen=True, slots=True)
class PolicyType:
    """One contact-policy type: the registry's entry.

    ``per_offer``: its answer depends on the offer's own history (the others are shared,
    and stop only what ``once`` lets through to ``check``). ``window``: the window in seconds
    from the spec (0 for none). ``once``: a shared type's answer for a whole decision.
    ``check``: the reason it stops one candidate. ``unit``: what its numbers count.
    ``stage``: ``policies`` for a contact policy; ``place`` for one applied when placing
    (mutual exclusion), which is never compiled into a ``ContactPolicy``.
    """

    name: str
    unit: str
    per_offer: bool = False
    window: Callable[[PolicySpec], float] | None = None
    once: SharedCheck | None = None
    check: OfferCheck | None = None
    stage: str = "policies"

    def __post_init__(self) -> None:
        if self.stage == "place":
            fits = self.once is None and self.check is None
        elif self.per_offer:
            fits = self.once is None and self.check is not None
        else:
            fits = self.once is not None
        if self.stage not in ("policies", "place") or not fits:
            raise AssertionError(
                f"contact-policy type {self.name!r}: a per-offer type has a check and no "
                "once, a shared type has a once (and a check if once may answer True), a "
                "type applied when placing has neither"
            )


@dataclass(frozen=True, slots=True)
class ContactPolicy:
    """A policy as the decision path reads it. ``window`` is in seconds: the period of a cap,
    a cooldown's hours or a suppression's days. The type's checks are resolved when the
    record is made, so an unknown ``type`` raises ``UnknownEntryError`` here, not later."""

    id: str
    type: str
    level: str  # global, channel, category or offer
    members: frozenset[str]
    scope: str  # as a person reads it, in the reasons
    limit: int = 0
    period: str = ""
    window: float = 0.0
    hours: float = 0.0
    declines: int = 0
    days: float = 0.0
    per_offer: bool = field(init=False)
    once: SharedCheck | None = field(init=False, repr=False)
    check: OfferCheck = field(init=False, repr=False)

    def __post_init__(self) -> None:
        kind = POLICY_TYPES[self.type]
        if kind.stage != "policies":
            raise AssertionError(f"a {self.type} policy is applied when placing, not here")
        object.__setattr__(self, "per_offer", kind.per_offer)
        object.__setattr__(self, "once", kind.once)
        object.__setattr__(self, "check", kind.check or _decided_once)


def _compile_policy(spec: PolicySpec) -> ContactPolicy:
    """The ``ContactPolicy`` of one spec (of a type checked in the policies stage)."""
    kind = POLICY_TYPES[spec.type]
    return ContactPolicy(
        id=spec.id,
        type=spec.type,
        level=spec.scope.level,
        members=spec.scope.members,
        scope=str(spec.scope),
        limit=spec.limit or 0,
        period=spec.period or "",
        window=kind.window(spec) if kind.window is not None else 0.0,
        hours=spec.hours or 0.0,
        declines=spec.declines or 0,
        days=spec.days or 0.0,
    )


def compile_policies(specs: Iterable[PolicySpec]) -> tuple[ContactPolicy, ...]:
    """The contact policies of ``specs`` (not mutual exclusion, which is applied when
    placing), highest priority first; equal priorities keep their order. A type without a
    registry entry raises ``UnknownEntryError``."""
    return tuple(
        _compile_policy(p)
        for p in sorted(specs, key=lambda p: -p.priority)
        if POLICY_TYPES[p.type].stage == "policies"
    )


class PolicyCheck:
    """The contact policies of a snapshot, applied to one customer at one moment on one
    channel."""

    __slots__ = (
        "active", "by_offer", "categories", "channel", "history", "now", "opt_outs",
        "session_declines", "shared_block",
    )  # fmt: skip

    def __init__(
        self,
        policies: tuple[ContactPolicy, ...],
        state: CustomerState | None,
        *,
        at: dt.datetime,
        channel: str,
        session_id: str | None,
        categories: Mapping[str, str | None],
    ) -> None:
        self.now, self.channel = at.timestamp(), channel
        self.categories = categories
        # Only what happened before the request counts, so a replayed decision is the same.
        history = (state.compact_history if state is not None else History(())).until(self.now)
        self.history = history
        self.by_offer = history.by_offer
        self.opt_outs = frozenset(state.opt_outs) if state is not None else frozenset()
        self.session_declines = (
            history.declines_by_session.get(session_id, 0) if session_id is not None else 0
        )
        # A shared policy's answer does not depend on the offer: it is decided here, once, and
        # stays in ``active`` (with its reason) only when it blocks someone. The per-offer
        # policies stay, with no reason yet: they can only block offers that have a history.
        self.active: list[tuple[ContactPolicy, str | None]] = []
        self.shared_block = False
        for policy in policies:
            once = policy.once
            if once is None:  # per offer (and only then): asked for each candidate with a history
                self.active.append((policy, None))
                continue
            verdict = once(self, policy)
            if verdict is False:
                continue
            self.active.append((policy, None if verdict is True else verdict))
            self.shared_block = True

    def blocked(self, offer: Offer) -> tuple[str, str] | None:
        """``(policy type, reason)`` of the first policy that stops ``offer``, or None."""
        mine = self.by_offer.get(offer.id)
        if mine is None and not self.shared_block:
            return None  # no history with this offer, and no shared policy blocks anyone
        for policy, reason in self.active:
            if policy.per_offer and mine is None:
                continue
            level = policy.level
            if level != "global":
                if level == "channel":
                    if self.channel not in policy.members:
                        continue
                elif level == "category":
                    if offer.category not in policy.members:
                        continue
                elif offer.id not in policy.members:
                    continue
            if reason is None:
                reason = policy.check(self, policy, offer, _NO_CONTACTS if mine is None else mine)
            if reason is not None:
                return policy.type, reason
        return None


_NO_CONTACTS: list[Seen] = []


def _decided_once(
    check: PolicyCheck, policy: ContactPolicy, offer: Offer, mine: list[Seen]
) -> str | None:
    raise AssertionError(f"a {policy.type} policy is decided once per decision, not per offer")


def _period_window(spec: PolicySpec) -> float:
    return PERIODS[spec.period or ""].total_seconds()


def _hours_window(spec: PolicySpec) -> float:
    return (spec.hours or 0.0) * 3600


def _days_window(spec: PolicySpec) -> float:
    return (spec.days or 0.0) * 86400


def _in_scope(policy: ContactPolicy, mine: list[Seen]) -> list[Seen]:
    """The offer's contacts on the policy's channels (all of them, for another scope)."""
    if policy.level == "channel":
        members = policy.members
        return [c for c in mine if c.channel in members]
    return mine


# -- per offer ---------------------------------------------------------------------------


def _frequency_cap(
    check: PolicyCheck, policy: ContactPolicy, offer: Offer, mine: list[Seen]
) -> str | None:
    since, n = check.now - policy.window, 0
    for c in _in_scope(policy, mine):
        if c.outcome == "shown" and c.t > since:
            n += 1
    if n >= policy.limit:
        return (
            f"{n} of {policy.limit} contacts with this offer "
            f"{_PERIOD_WORDS[policy.period]} (scope: {policy.scope})"
        )
    return None


def _cooldown(
    check: PolicyCheck, policy: ContactPolicy, offer: Offer, mine: list[Seen]
) -> str | None:
    last = None
    for c in _in_scope(policy, mine):
        if c.outcome == "shown" and (last is None or c.t > last):
            last = c.t
    if last is not None:
        hours = (check.now - last) / 3600
        if 0 <= hours < policy.hours:
            return (
                f"last contact {hours:.1f} h ago, needs {policy.hours:g} h (scope: {policy.scope})"
            )
    return None


def _outcome_suppression(
    check: PolicyCheck, policy: ContactPolicy, offer: Offer, mine: list[Seen]
) -> str | None:
    since, n = check.now - policy.window, 0
    for c in _in_scope(policy, mine):
        if c.outcome == "declined" and c.t > since:
            n += 1
    if n >= policy.declines:
        return f"declined {n} times in the last {policy.days:g} days (scope: {policy.scope})"
    return None


# -- shared ------------------------------------------------------------------------------


def _total_cap(check: PolicyCheck, policy: ContactPolicy) -> str | bool:
    since = check.now - policy.window
    if policy.level == "global":
        n = check.history.shown_since(since)
    else:
        n = _count_shown(check, since, policy)
    if n >= policy.limit:
        return (
            f"{n} of {policy.limit} contacts {_PERIOD_WORDS[policy.period]} (scope: {policy.scope})"
        )
    return False


def _count_shown(check: PolicyCheck, since: float, policy: ContactPolicy) -> int:
    n = 0
    history, level, members = check.history, policy.level, policy.members
    for c in history.seen[bisect_right(history.times, since) :]:
        if c.outcome != "shown":
            continue
        if level == "channel" and c.channel not in members:
            continue
        if level == "category" and check.categories.get(c.offer) not in members:
            continue
        if level == "offer" and c.offer not in members:
            continue
        n += 1
    return n


def _session_backoff(check: PolicyCheck, policy: ContactPolicy) -> str | bool:
    if check.session_declines >= policy.declines:
        return (
            f"{check.session_declines} declines this session "
            f"(limit {policy.declines}; scope: {policy.scope})"
        )
    return False


def _any_opt_out(check: PolicyCheck, policy: ContactPolicy) -> str | bool:
    return bool(check.opt_outs)


def _opted_out(
    check: PolicyCheck, policy: ContactPolicy, offer: Offer, mine: list[Seen]
) -> str | None:
    hit = check.opt_outs & {"all", check.channel, offer.id, offer.category or ""}
    if hit:
        return f"customer opted out of {', '.join(sorted(hit))} (scope: {policy.scope})"
    return None


POLICY_TYPES: Registry[PolicyType] = Registry(
    "contact-policy type",
    "type",
    (
        (t.name, t)
        for t in (
            PolicyType("frequency_cap", "contacts with one offer per period", per_offer=True,
                       window=_period_window, check=_frequency_cap),
            PolicyType("total_cap", "contacts with any offer in scope per period",
                       window=_period_window, once=_total_cap),
            PolicyType("cooldown", "hours since the last contact with the offer", per_offer=True,
                       window=_hours_window, check=_cooldown),
            PolicyType("outcome_suppression", "declines of one offer within days",
                       per_offer=True, window=_days_window, check=_outcome_suppression),
            PolicyType("session_backoff", "declines in the session", once=_session_backoff),
            PolicyType("do_not_contact", "the customer's opt-outs", once=_any_opt_out,
                       check=_opted_out),
            PolicyType("mutual_exclusion", "offers of the group in one decision", stage="place"),
        )
    ),
)  # fmt: skip
POLICY_TYPES.agree(get_args(PolicyTypeName))
POLICY_TYPES.agree(POLICY_FIELDS)
