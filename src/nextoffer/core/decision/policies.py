"""Contact policies: caps, cooldowns, suppression after declines, back-off, opt-outs.

``PolicyCheck`` is built once per decision from the customer's history; ``blocked(offer)``
then answers, for one candidate, the first policy (by priority) that stops it and why.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Mapping

from .snapshot import Offer
from .spec import PERIODS, CustomerState, History, PolicySpec, Scope, Seen

__all__ = ["PolicyCheck"]

_PERIOD_WORDS = {"day": "today", "week": "this week", "month": "this month"}


def _in_scope(scope: Scope, offer: Offer, channel: str) -> bool:
    if scope.level == "global":
        return True
    if scope.level == "channel":
        return channel in scope.members
    if scope.level == "category":
        return offer.category in scope.members
    return offer.id in scope.members


class PolicyCheck:
    """The policies of a snapshot, applied to one customer at one moment on one channel."""

    def __init__(
        self,
        policies: tuple[PolicySpec, ...],
        state: CustomerState | None,
        *,
        at: dt.datetime,
        channel: str,
        session_id: str | None,
        categories: Mapping[str, str | None],
    ) -> None:
        self.policies = [p for p in policies if p.type != "mutual_exclusion"]
        self.now, self.channel = at.timestamp(), channel
        self.categories = categories
        # Only what happened before the request counts, so a replayed decision is the same.
        history = (state.compact_history() if state is not None else History(())).until(self.now)
        self.history = history
        self.by_offer = history.by_offer
        self.opt_outs = frozenset(state.opt_outs) if state is not None else frozenset()
        self.session_declines = (
            history.declines_by_session.get(session_id, 0) if session_id is not None else 0
        )
        # Policies whose answer does not depend on the offer's own history are "shared":
        # decided once here. Only those that block someone stay in ``self.active``, with the
        # per-offer policies, which can only block offers that have a history.
        self._shared: dict[str, str | None] = {}
        per_offer = {"frequency_cap", "cooldown", "outcome_suppression"}
        self.active: list[PolicySpec] = []
        self.shared_block = False
        for policy in self.policies:
            if policy.type in per_offer:
                self.active.append(policy)
            elif policy.type == "do_not_contact":
                if self.opt_outs:
                    self.active.append(policy)
                    self.shared_block = True
            else:
                if policy.type == "total_cap":
                    self._shared[policy.id] = self._total_cap(policy)
                else:
                    self._shared[policy.id] = self._check(policy, None, [])
                if self._shared[policy.id] is not None:
                    self.active.append(policy)
                    self.shared_block = True
        self._per_offer = per_offer

    def blocked(self, offer: Offer) -> tuple[str, str] | None:
        """``(policy type, reason)`` of the first policy that stops ``offer``, or None."""
        mine = self.by_offer.get(offer.id)
        if mine is None and not self.shared_block:
            return None  # no history with this offer, and no shared policy blocks anyone
        for policy in self.active:
            if policy.type in self._per_offer and mine is None:
                continue
            if not _in_scope(policy.scope, offer, self.channel):
                continue
            if policy.id in self._shared:
                reason = self._shared[policy.id]
            else:
                reason = self._check(policy, offer, mine or [])
            if reason is not None:
                return policy.type, reason
        return None

    def _check(self, policy: PolicySpec, offer: Offer | None, mine: list[Seen]) -> str | None:
        kind, scope = policy.type, policy.scope
        if kind == "session_backoff":
            assert policy.declines is not None
            if self.session_declines >= policy.declines:
                return (
                    f"{self.session_declines} declines this session "
                    f"(limit {policy.declines}; scope: {scope})"
                )
            return None
        if kind == "do_not_contact":
            assert offer is not None
            hit = self.opt_outs & {"all", self.channel, offer.id, offer.category or ""}
            if hit:
                return f"customer opted out of {', '.join(sorted(hit))} (scope: {scope})"
            return None
        if kind == "frequency_cap":
            assert policy.limit is not None
            assert policy.period is not None
            since = self.now - PERIODS[policy.period].total_seconds()
            n = sum(1 for c in self._scoped(mine, scope) if c.outcome == "shown" and c.t > since)
            if n >= policy.limit:
                return (
                    f"{n} of {policy.limit} contacts with this offer "
                    f"{_PERIOD_WORDS[policy.period]} (scope: {scope})"
                )
            return None
        if kind == "cooldown":
            assert policy.hours is not None
            shown = [c.t for c in self._scoped(mine, scope) if c.outcome == "shown"]
            if shown:
                hours = (self.now - max(shown)) / 3600
                if 0 <= hours < policy.hours:
                    return (
                        f"last contact {hours:.1f} h ago, needs {policy.hours:g} h (scope: {scope})"
                    )
            return None
        # outcome_suppression
        assert policy.declines is not None
        assert policy.days is not None
        since = self.now - policy.days * 86400
        n = sum(1 for c in self._scoped(mine, scope) if c.outcome == "declined" and c.t > since)
        if n >= policy.declines:
            return f"declined {n} times in the last {policy.days:g} days (scope: {scope})"
        return None

    def _scoped(self, contacts: list[Seen], scope: Scope) -> list[Seen]:
        if scope.level == "channel":
            members = scope.members
            return [c for c in contacts if c.channel in members]
        return contacts

    def _total_cap(self, policy: PolicySpec) -> str | None:
        assert policy.limit is not None
        assert policy.period is not None
        since, scope = self.now - PERIODS[policy.period].total_seconds(), policy.scope
        if scope.level == "global":
            n = self.history.shown_since(since)
        else:
            n = self._count_shown(since, scope)
        if n >= policy.limit:
            return f"{n} of {policy.limit} contacts {_PERIOD_WORDS[policy.period]} (scope: {scope})"
        return None

    def _count_shown(self, since: float, scope: Scope) -> int:
        n = 0
        history, members = self.history, scope.members
        for c in history.seen[bisect_right(history.times, since) :]:
            if c.outcome != "shown":
                continue
            if scope.level == "channel" and c.channel not in members:
                continue
            if scope.level == "category" and self.categories.get(c.offer) not in members:
                continue
            if scope.level == "offer" and c.offer not in members:
                continue
            n += 1
        return n
