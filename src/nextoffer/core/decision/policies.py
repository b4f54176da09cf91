"""Contact policies: caps, cooldowns, suppression after declines, back-off, opt-outs.

``compile_policies`` turns the snapshot's policy specs into ``ContactPolicy`` records once,
when the snapshot is built (windows in seconds, scope members as sets, the scope's text);
``PolicyCheck`` is built once per decision from the customer's history, and
``blocked(offer)`` then answers, for one candidate, the first policy (by priority) that
stops it and why.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .spec import PERIODS, CustomerState, History, PolicySpec, Seen

if TYPE_CHECKING:
    from .snapshot import Offer

__all__ = ["ContactPolicy", "PolicyCheck", "compile_policies"]

_PERIOD_WORDS = {"day": "today", "week": "this week", "month": "this month"}
# policies whose answer depends on the offer's own history (the others are "shared")
_PER_OFFER = frozenset({"frequency_cap", "cooldown", "outcome_suppression"})


@dataclass(frozen=True, slots=True)
class ContactPolicy:
    """A policy as the decision path reads it. ``window`` is in seconds: the period of a cap,
    a cooldown's hours or a suppression's days."""

    id: str
    type: str
    level: str  # global, channel, category or offer
    members: frozenset[str]
    scope: str  # as a person reads it, in the reasons
    per_offer: bool
    limit: int = 0
    period: str = ""
    window: float = 0.0
    hours: float = 0.0
    declines: int = 0
    days: float = 0.0


def compile_policies(specs: Iterable[PolicySpec]) -> tuple[ContactPolicy, ...]:
    """The contact policies of ``specs`` (not mutual exclusion, which is applied when
    placing), highest priority first; equal priorities keep their order."""
    out = []
    for p in sorted(specs, key=lambda p: -p.priority):
        if p.type == "mutual_exclusion":
            continue
        window = 0.0
        if p.period is not None:
            window = PERIODS[p.period].total_seconds()
        elif p.hours is not None:
            window = p.hours * 3600
        elif p.days is not None:
            window = p.days * 86400
        out.append(
            ContactPolicy(
                id=p.id,
                type=p.type,
                level=p.scope.level,
                members=p.scope.members,
                scope=str(p.scope),
                per_offer=p.type in _PER_OFFER,
                limit=p.limit or 0,
                period=p.period or "",
                window=window,
                hours=p.hours or 0.0,
                declines=p.declines or 0,
                days=p.days or 0.0,
            )
        )
    return tuple(out)


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
            if policy.per_offer:
                self.active.append((policy, None))
            elif policy.type == "do_not_contact":
                if self.opt_outs:
                    self.active.append((policy, None))
                    self.shared_block = True
            else:
                if policy.type == "total_cap":
                    reason = self._total_cap(policy)
                else:
                    reason = self._session_backoff(policy)
                if reason is not None:
                    self.active.append((policy, reason))
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
                if policy.per_offer:
                    assert mine is not None
                    reason = self._per_offer(policy, mine)
                else:
                    reason = self._opted_out(policy, offer)
            if reason is not None:
                return policy.type, reason
        return None

    def _session_backoff(self, policy: ContactPolicy) -> str | None:
        if self.session_declines >= policy.declines:
            return (
                f"{self.session_declines} declines this session "
                f"(limit {policy.declines}; scope: {policy.scope})"
            )
        return None

    def _opted_out(self, policy: ContactPolicy, offer: Offer) -> str | None:
        hit = self.opt_outs & {"all", self.channel, offer.id, offer.category or ""}
        if hit:
            return f"customer opted out of {', '.join(sorted(hit))} (scope: {policy.scope})"
        return None

    def _per_offer(self, policy: ContactPolicy, mine: list[Seen]) -> str | None:
        if policy.level == "channel":
            members = policy.members
            mine = [c for c in mine if c.channel in members]
        kind, since = policy.type, self.now - policy.window
        if kind == "frequency_cap":
            n = 0
            for c in mine:
                if c.outcome == "shown" and c.t > since:
                    n += 1
            if n >= policy.limit:
                return (
                    f"{n} of {policy.limit} contacts with this offer "
                    f"{_PERIOD_WORDS[policy.period]} (scope: {policy.scope})"
                )
            return None
        if kind == "cooldown":
            last = None
            for c in mine:
                if c.outcome == "shown" and (last is None or c.t > last):
                    last = c.t
            if last is not None:
                hours = (self.now - last) / 3600
                if 0 <= hours < policy.hours:
                    return (
                        f"last contact {hours:.1f} h ago, needs {policy.hours:g} h "
                        f"(scope: {policy.scope})"
                    )
            return None
        # outcome_suppression
        n = 0
        for c in mine:
            if c.outcome == "declined" and c.t > since:
                n += 1
        if n >= policy.declines:
            return f"declined {n} times in the last {policy.days:g} days (scope: {policy.scope})"
        return None

    def _total_cap(self, policy: ContactPolicy) -> str | None:
        since = self.now - policy.window
        if policy.level == "global":
            n = self.history.shown_since(since)
        else:
            n = self._count_shown(since, policy)
        if n >= policy.limit:
            return (
                f"{n} of {policy.limit} contacts {_PERIOD_WORDS[policy.period]} "
                f"(scope: {policy.scope})"
            )
        return None

    def _count_shown(self, since: float, policy: ContactPolicy) -> int:
        n = 0
        history, level, members = self.history, policy.level, policy.members
        for c in history.seen[bisect_right(history.times, since) :]:
            if c.outcome != "shown":
                continue
            if level == "channel" and c.channel not in members:
                continue
            if level == "category" and self.categories.get(c.offer) not in members:
                continue
            if level == "offer" and c.offer not in members:
                continue
            n += 1
        return n
