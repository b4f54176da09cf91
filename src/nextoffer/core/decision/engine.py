"""The decision path: candidates → qualify → policies → score → gates → rank → place → holdout.

``decide(snapshot, request, state, seed=...)`` is pure: the same snapshot, state, request
and seed always give the same decision (only the stage timings in the trace differ); the
seed matters only on a channel whose strategy explores (``exploration.py``). Every
candidate that leaves says at which stage and why, when the trace is detailed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any

from ..request import Request
from ..rules import ContextError, build_context, coerce_attribute
from . import candidates
from .candidates import OFFER, OFFER_ID, RULES
from .exploration import Z95, Arm, Belief, Context
from .policies import PolicyCheck
from .result import (
    Decision,
    DecisionError,
    Exploration,
    JourneyStep,
    PlacementResult,
    Shown,
    SlotChoice,
    StageTrace,
    Trace,
)
from .snapshot import Channel, Offer, Rule, Snapshot
from .spec import CustomerState, PlacementSpec

__all__ = ["assignment", "decide"]


def assignment(experiment: str, customer_id: str) -> float:
    """A deterministic number in [0, 1) from (experiment key, customer id).

    The control group of an experiment with share s is every customer whose number is < s;
    a customer keeps their group for as long as the experiment key stays the same.
    """
    digest = hashlib.blake2b(f"{experiment}\x1f{customer_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


_UNSEEN: Any = object()
_NO_SLOT = "no free slot in the requested placements"


_NO_RULES: tuple[Rule, ...] = ()

Rules = list[Rule] | tuple[Rule, ...]
Nominated = candidates.Nominated[Rules]
Qualified = candidates.Qualified[Rules]
Scored = candidates.Ranked[Rules]


def _ms(start: int) -> float:
    return (time.perf_counter_ns() - start) / 1000


def decide(
    snapshot: Snapshot,
    request: Request,
    state: CustomerState | None = None,
    *,
    now: Any = None,
    contacts_at: Any = None,
    detail: bool | None = None,
    journeys: Sequence[JourneyStep] = (),
    seed: str | None = None,
) -> Decision:
    """Decide which offers to show where for ``request``.

    ``now`` is used when the request has no ``at``. ``contacts_at`` is the moment the
    contact policies (caps, cooldowns, back-off) count from, and the contacts before it are
    the ones that count: by default the decision's time (``at``, free in dry-runs and
    backtests); the live path passes the server's time, so that a client's ``at`` cannot
    bring capped offers back. ``detail`` forces the per-candidate trace on or off; by
    default the snapshot's ``trace_sample_rate`` decides, per request. ``journeys`` are the
    journey offer steps waiting for this customer on this channel: their offers become
    candidates too (``JourneyStep``). ``seed`` seeds the random choices of a channel whose
    strategy explores: the live path passes the decision's id; without one, the seed is
    made of the customer, the session, the time and the channel (so a dry-run is
    reproducible too). Raises ``DecisionError`` (naming the field) for a request that cannot
    be decided.
    """
    return _Decider(snapshot, request, state, now, detail, contacts_at, tuple(journeys), seed).run()


class _Decider:
    # what an exploring strategy reads: the permitted candidates, and their match
    # multipliers by offer id (made when Thompson sampling first asks)
    permitted: list[Qualified]
    matches: dict[str, float] | None = None

    def __init__(
        self,
        snapshot: Snapshot,
        request: Request,
        state: CustomerState | None,
        now: Any,
        detail: bool | None,
        contacts_at: Any = None,
        journeys: tuple[JourneyStep, ...] = (),
        seed: str | None = None,
    ) -> None:
        self.snapshot, self.request, self.state = snapshot, request, state
        self.journeys, self.seed = journeys, seed
        at = request.at if request.at is not None else now
        if at is None:
            raise DecisionError("at", "a decision needs the time of the request")
        if at.tzinfo is None:
            raise DecisionError("at", "needs a time zone offset, such as 2026-03-08T14:30:00Z")
        self.at = at
        self.contacts_at = at if contacts_at is None else contacts_at
        if request.channel is None:
            raise DecisionError("channel", "a decision needs the channel")
        channel = snapshot.channels.get(request.channel)
        if channel is None:
            known = ", ".join(sorted(snapshot.channels)) or "none"
            raise DecisionError("channel", f"unknown channel {request.channel!r} (known: {known})")
        self.channel: Channel = channel
        self.placements = self._placements()
        customer = request.customer
        self.customer_id = customer.id if customer is not None else None
        if self.customer_id is None and state is not None:
            self.customer_id = state.id
        if detail is None:
            rate = snapshot.trace_sample_rate
            key = f"{self.customer_id}\x1f{request.session_id}\x1f{at.isoformat()}"
            detail = rate >= 1.0 or (rate > 0.0 and assignment("trace", key) < rate)
        self.detail = detail
        self.drops: list[tuple[str, str, str]] = []
        self.blocks: list[str] = []  # the policy type of each candidate a policy stopped
        self.stages: list[StageTrace] = []
        self.exploration: Exploration | None = None

    def _placements(self) -> list[tuple[PlacementSpec, int]]:
        channel, request = self.channel, self.request
        if not request.placements:
            if request.placement is not None:
                wanted: list[tuple[str, int | None, str]] = [(request.placement, None, "placement")]
            else:
                return [(p, p.slots) for p in channel.placements]
        else:
            wanted = [
                (p.key, p.slots, f"placements[{i}]") for i, p in enumerate(request.placements)
            ]
        out = []
        for key, slots, where in wanted:
            spec = channel.placement(key)
            if spec is None:
                known = ", ".join(p.id for p in channel.placements)
                raise DecisionError(
                    where, f"unknown placement {key!r} on channel {channel.id!r} (known: {known})"
                )
            if slots is not None and slots > spec.slots:
                raise DecisionError(
                    f"{where}.slots", f"placement {key!r} has {spec.slots} slots, asked for {slots}"
                )
            out.append((spec, slots or spec.slots))
        return out

    def excluded(self, offer: Offer, in_cart: frozenset[str]) -> str:
        """Why a nominated offer is not a candidate."""
        if offer.status != "active":
            return f"offer is {offer.status}"
        if offer.channels is not None and self.channel.id not in offer.channels:
            return f"not offered on channel {self.channel.id}"
        if offer.sku is not None and offer.sku in in_cart:
            return f"{offer.sku} is already in the cart"
        return f"customer already holds {offer.sku or offer.id}"

    def stage(self, name: str, entered: int, left: int, start: int) -> None:
        self.stages.append(StageTrace(name, entered, left, _ms(start)))

    # -- the context ------------------------------------------------------------------

    def context(self) -> dict[str, Any]:
        snapshot, state = self.snapshot, self.state
        schema = snapshot.spec.customer_schema
        try:
            ctx = build_context(self.request, schema, now=self.at)
        except ContextError as exc:
            raise DecisionError(exc.field, exc.message) from None
        if state is not None:
            if state.id is not None:
                ctx.setdefault("customer.id", state.id)
            declared = schema.attributes
            for name, value in state.attributes.items():
                key = f"customer.{name}"
                kind = declared.get(name)
                if key in ctx or value is None or kind is None:
                    continue
                try:
                    ctx[key] = coerce_attribute(f"state.attributes.{name}", kind, value)
                except ContextError as exc:
                    raise DecisionError(exc.field, exc.message) from None
            for name, values in (("segments", state.segments), ("holdings", state.holdings)):
                key = f"customer.{name}"
                ctx[key] = ctx.get(key, frozenset()) | frozenset(values)
        return ctx

    # -- the stages ---------------------------------------------------------------------

    def run(self) -> Decision:
        started = time.perf_counter_ns()
        ctx = self.context()
        fired, nominated, kept = self.candidates(ctx)
        qualified = self.qualify(ctx, kept)
        permitted = self.policies(qualified)
        scored = self.score(permitted)
        passed = self.gates(ctx, scored)
        self.rank(passed)
        if self.channel.explorer.start is None:
            placements, cascade, placed = self.place(passed)
        else:
            placements, cascade, placed = self.explore(passed, permitted)
        placements, control, experiment, counterfactual = self.holdout(placements, placed)
        shown = sum(len(p.offers) for p in placements)
        self.stages.append(StageTrace("total", entered=nominated, left=shown, micros=_ms(started)))

        return Decision(
            snapshot_version=self.snapshot.version,
            customer_id=self.customer_id,
            channel=self.channel.id,
            session_id=self.request.session_id,
            placements=placements,
            control=control,
            experiment=experiment,
            counterfactual=counterfactual,
            rules_fired=tuple(r.fired for r in fired),
            cascade=cascade,
            trace=Trace(tuple(self.stages), tuple(self.drops), self.detail, tuple(self.blocks)),
            journeys=self.journeys,
            exploration=self.exploration,
        )

    def candidates(self, ctx: dict[str, Any]) -> tuple[list[Rule], int, list[Nominated]]:
        """1. candidates: offers nominated by matching rules, plus offers open on the channel,
        plus the offers of the journey steps waiting on it (an outbound step's alone).
        Returns the rules that fired, how many offers were nominated, and those kept."""
        start = time.perf_counter_ns()
        snapshot, channel, detail = self.snapshot, self.channel, self.detail
        only = any(j.only for j in self.journeys)
        fired = [] if only else snapshot.index.match(ctx)
        allowed = snapshot.allowed[channel.id]  # active offers that may appear on the channel
        in_cart: frozenset[str] = ctx.get("cart.skus", frozenset())
        held: frozenset[str] = ctx.get("customer.holdings", frozenset())
        drop = self.drops.append  # (offer, stage, reason), only when the trace is detailed
        # offer id → (offer, the rules that nominated it); None: nominated, and excluded
        cands: dict[str, Nominated | None] = {}
        for rule in fired:
            for target in rule.targets:
                tid = target.id
                cand = cands.get(tid, _UNSEEN)
                if cand is _UNSEEN:
                    if tid in allowed and not (
                        target.sku in in_cart or (held and (target.sku in held or tid in held))
                    ):
                        cands[tid] = (target, [rule])
                    else:
                        cands[tid] = None
                        if detail:
                            drop((tid, "candidates", self.excluded(target, in_cart)))
                elif cand is not None:
                    cand[1].append(rule)  # its rules: a list while nominating
        for offer in () if only else snapshot.open_offers[channel.id]:
            if offer.id not in cands:
                if not (offer.sku in in_cart or (held and (offer.sku in held or offer.id in held))):
                    cands[offer.id] = (offer, _NO_RULES)
                else:
                    cands[offer.id] = None
                    if detail:
                        drop((offer.id, "candidates", self.excluded(offer, in_cart)))
        if self.journeys:
            self.journey_offers(cands, allowed, in_cart, held)
        kept = [c for c in cands.values() if c is not None]
        self.stage("candidates", len(cands), len(kept), start)
        return fired, len(cands), kept

    def journey_offers(
        self,
        cands: dict[str, Nominated | None],
        allowed: frozenset[str],
        in_cart: frozenset[str],
        held: frozenset[str],
    ) -> None:
        """The journey steps' offers, added to ``cands`` (an outbound step's alone, when
        any step is outbound); an offer the snapshot no longer has is dropped, named."""
        only = any(j.only for j in self.journeys)
        for j in self.journeys:
            if only and not j.only:
                continue
            for offer_id in j.offers:
                if offer_id in cands:
                    continue
                offer = self.snapshot.offers.get(offer_id)
                if offer is None:
                    cands[offer_id] = None
                    if self.detail:
                        self.drops.append((offer_id, "candidates", f"journey {j.journey} step "
                                           f"{j.step}: no offer {offer_id!r} in the snapshot"))  # fmt: skip
                elif offer_id in allowed and not (
                    offer.sku in in_cart or (held and (offer.sku in held or offer_id in held))
                ):
                    cands[offer_id] = (offer, _NO_RULES)
                else:
                    cands[offer_id] = None
                    if self.detail:
                        self.drops.append((offer_id, "candidates", self.excluded(offer, in_cart)))

    def qualify(self, ctx: dict[str, Any], kept: list[Nominated]) -> list[Qualified]:
        """2. qualify: eligibility and fit are hard filters, match a soft multiplier."""
        start, detail, drop = time.perf_counter_ns(), self.detail, self.drops.append
        qualified: list[Qualified] = []
        keep = qualified.append
        for offer, rules in kept:
            if offer.unconditional:
                keep((offer, rules, 1.0))
                continue
            if offer.reads_offer:
                ctx.update(offer.offer_ctx)
            failed = None
            for evaluate, if_false, if_unknown in offer.checks:
                value = evaluate(ctx)
                if value is not True:
                    failed = if_false if value is False else if_unknown
                    break
            if failed is not None:
                if detail:
                    drop((offer.id, "qualify", failed))
                continue
            match = 1.0
            if offer.match:
                hit = 0.0
                for cond, weight in offer.match:
                    if cond.evaluator(ctx) is True:
                        hit += weight
                match = 0.1 + 0.9 * hit / offer.match_total
            keep((offer, rules, match))
        self.stage("qualify", len(kept), len(qualified), start)
        return qualified

    def policies(self, qualified: list[Qualified]) -> list[Qualified]:
        """3. policies: caps, cooldowns, back-off, opt-outs (the first that stops a
        candidate, by priority, is its reason)."""
        start, snapshot = time.perf_counter_ns(), self.snapshot
        permitted = qualified
        if snapshot.contact_policies:
            check = PolicyCheck(
                snapshot.contact_policies,
                self.state,
                at=self.contacts_at,
                channel=self.channel.id,
                session_id=self.request.session_id,
                categories=snapshot.categories,
            )
            by_offer = check.by_offer
            # Without a shared block, only offers with a history can be stopped.
            at_risk = (
                [offer for offer, _, _ in qualified]
                if check.shared_block
                else [offer for offer, _, _ in qualified if offer.id in by_offer]
            )
            stopped: set[str] = set()
            for offer in at_risk:
                blocked = check.blocked(offer)
                if blocked is not None:
                    stopped.add(offer.id)
                    self.blocks.append(blocked[0])
                    if self.detail:
                        self.drops.append((offer.id, "policies", f"{blocked[0]}: {blocked[1]}"))
            if stopped:
                permitted = [c for c in qualified if c[0].id not in stopped]  # c[0]: its offer
        self.stage("policies", len(qualified), len(permitted), start)
        return permitted

    def gates(self, ctx: dict[str, Any], scored: list[Scored]) -> list[Scored]:
        """5. gates: minimum score, price-delta cap."""
        start, detail, drop = time.perf_counter_ns(), self.detail, self.drops.append
        passed: list[Scored] = []
        min_score = self.channel.min_score
        cap_share = self.snapshot.guardrails.max_price_share
        total = ctx.get("cart.total") or 0.0
        cap = cap_share * total if cap_share is not None and total > 0 else None
        unit = self.channel.strategy.unit_text
        for cand in scored:
            _, neg_score, _, _, offer, _ = cand
            score = -neg_score
            if score < min_score:
                if detail:
                    drop((offer.id, "gates", f"min_score: score {score:.4g} < {min_score:g}{unit}"))
            elif cap is not None and offer.price is not None and offer.price > cap:
                if detail:
                    drop((offer.id, "gates", f"price_delta_cap: price {offer.price:.2f} > "
                          f"{cap_share:.0%} of the cart total {total:.2f} ({cap:.2f})"))  # fmt: skip
            else:
                passed.append(cand)
        self.stage("gates", len(scored), len(passed), start)
        return passed

    def rank(self, passed: list[Scored]) -> None:
        """6. rank, in place: priority, then score, then attach rate, then offer id."""
        start = time.perf_counter_ns()
        passed.sort()
        self.stage("rank", len(passed), len(passed), start)

    def holdout(
        self, placements: tuple[PlacementResult, ...], placed: int
    ) -> tuple[tuple[PlacementResult, ...], bool, str | None, tuple[PlacementResult, ...]]:
        """8. holdout: the control group gets the fallback, and what it would have got is
        logged. Returns the placements shown, control, the experiment, the counterfactual."""
        start = time.perf_counter_ns()
        control, experiment = False, None
        counterfactual: tuple[PlacementResult, ...] = ()
        holdout, channel = self.snapshot.holdout, self.channel
        if (
            holdout is not None
            and self.customer_id is not None
            and (not holdout.channels or channel.id in holdout.channels)
        ):
            experiment = holdout.experiment
            if assignment(holdout.experiment, self.customer_id) < holdout.share:
                control, counterfactual = True, placements
                placements = self.control_fallback(holdout.fallback_offer)
                if self.detail:
                    reason = (f"customer is in the control group of {holdout.experiment} "
                              f"({holdout.share:.0%}); logged as what they would have got")  # fmt: skip
                    self.drops += [
                        (s.offer, "holdout", reason) for p in counterfactual for s in p.offers
                    ]
        self.stage("holdout", placed, sum(len(p.offers) for p in placements), start)
        return placements, control, experiment, counterfactual

    def uplift(self, offer: Offer) -> tuple[float | None, str | None]:
        """The customer's τ and uplift segment for ``offer`` (theirs, else the offer's)."""
        state = self.state
        if state is None:
            return offer.tau, offer.segment
        cate, segments = state.cate, state.uplift_segments
        return (
            cate.get(offer.id, offer.tau) if cate else offer.tau,
            segments.get(offer.id, offer.segment) if segments else offer.segment,
        )

    def score(self, cands: list[Qualified]) -> list[Scored]:
        """4. score, in the channel strategy's unit (a candidate it cannot score leaves)."""
        start = time.perf_counter_ns()
        scoring_spec = self.channel.scoring
        strategy = self.channel.strategy
        score_of, uses_tau = strategy.score, strategy.uses_tau
        out: list[Scored] = []
        keep = out.append
        channel_id = self.channel.id
        for offer, rules, match in cands:
            priority = offer.priority
            p = offer.channel_p.get(channel_id, offer.p) if offer.channel_p else offer.p
            if rules:
                best: tuple[int, str] | None = None
                for rule in rules:
                    if rule.priority > priority:
                        priority = rule.priority
                    if offer.rule_p and rule.id in offer.rule_p:
                        key = (-rule.priority, rule.id)
                        if best is None or key < best:
                            best, p = key, offer.rule_p[rule.id]
            score = score_of(
                scoring_spec, offer, p, match, self.uplift(offer)[0] if uses_tau else None
            )
            if score is None:  # the strategy cannot score it
                if self.detail:
                    self.drops.append((offer.id, "score", strategy.unscored))
                continue
            # rank: priority, then score, then attach rate, then offer id
            keep((-priority, -score, -p, offer.id, offer, rules))
        self.stage("score", len(cands), len(out), start)
        return out

    def place(self, ranked: list[Scored]) -> tuple[tuple[PlacementResult, ...], str | None, int]:
        """7. place: fill the placements in rank order (exclusions, fallbacks, coupling).
        Returns the placements, the atomic cascade if any, and how many offers were placed."""
        start = time.perf_counter_ns()
        snapshot, detail = self.snapshot, self.detail
        limit = self.request.limit
        groups = snapshot.exclusions
        taken_groups: dict[str, str] = {}
        used: set[str] = set()
        excluded: set[str] = set()
        count = 0
        results: list[PlacementResult] = []
        for spec, slots in self.placements:
            chosen: list[Shown] = []
            for rank, (_, neg_score, neg_p, _, offer, rules) in enumerate(ranked, start=1):
                if len(chosen) >= slots or (limit is not None and count >= limit):
                    break
                if offer.id in used or offer.id in excluded:
                    continue
                if offer.placements is not None and spec.id not in offer.placements:
                    continue
                mine = groups.get(offer.id)
                if mine is not None:
                    clash = [g for g in mine if g in taken_groups]
                    if clash:
                        excluded.add(offer.id)
                        if detail:
                            self.drops.append((offer.id, "place",
                                f"mutual_exclusion: {taken_groups[clash[0]]} is already offered "
                                f"(policy {clash[0]})"))  # fmt: skip
                        continue
                    for g in mine:
                        taken_groups[g] = offer.id
                used.add(offer.id)
                count += 1
                chosen.append(self.shown(offer, rank, neg_score, neg_p, rules, 1.0))
            count += self.fallback(spec, chosen, used, count)
            results.append(PlacementResult(spec.id, tuple(chosen)))
        return self.placed(ranked, results, used, excluded, start)

    def placed(
        self,
        ranked: list[Scored],
        results: list[PlacementResult],
        used: set[str],
        excluded: set[str],
        start: int,
    ) -> tuple[tuple[PlacementResult, ...], str | None, int]:
        """The end of the place stage: the candidates left without a slot, the coupling."""
        detail = self.detail
        if excluded:
            self.blocks += ["mutual_exclusion"] * len(excluded)
        if detail:
            gone = used | excluded if excluded else used
            self.drops += [
                (offer_id, "place", _NO_SLOT)
                for _, _, _, offer_id, _, _ in ranked
                if offer_id not in gone
            ]
        cascade = None
        if self.channel.coupling == "atomic":
            empty = [r.placement for r in results if not r.offers]
            if empty and any(r.offers for r in results):
                cascade = (
                    f"atomic coupling on channel {self.channel.id}: placement "
                    f"{', '.join(empty)} stayed empty, so every placement is emptied"
                )
                if detail:
                    self.drops += [(s.offer, "place", cascade) for r in results for s in r.offers]
                results = [PlacementResult(r.placement, ()) for r in results]
        placed = sum(len(r.offers) for r in results)
        self.stage("place", len(ranked), placed, start)
        return tuple(results), cascade, placed

    def shown(
        self, offer: Offer, rank: int, neg_score: float, neg_p: float, rules: Rules,
        probability: float,
    ) -> Shown:  # fmt: skip
        """A placed candidate as the decision shows it (its rank, score, EV, p and τ)."""
        tau, segment = self.uplift(offer)
        return Shown(offer=offer.id, rank=rank, score=-neg_score, ev=-neg_p * offer.margin,
                     p=-neg_p, tau=tau, uplift_segment=segment, probability=probability,
                     rules=tuple([r.id for r in rules]))  # fmt: skip

    def fallback(self, spec: PlacementSpec, chosen: list[Shown], used: set[str], count: int) -> int:
        """A placement left empty gets its fallback offer, if that is not shown already and
        the request's limit allows; how many offers that added (0 or 1)."""
        fallback, limit = spec.fallback_offer, self.request.limit
        if chosen or fallback is None or fallback in used or (limit is not None and count >= limit):
            return 0
        used.add(fallback)
        chosen.append(_fallback(fallback))
        return 1

    def explore(
        self, ranked: list[Scored], permitted: list[Qualified]
    ) -> tuple[tuple[PlacementResult, ...], str | None, int]:
        """7. place, for a strategy that explores: slot by slot, its chooser picks among the
        candidates left for the slot (those ``place`` would consider, in rank order), and
        each choice is recorded with its probability and the candidates it was made among."""
        start = time.perf_counter_ns()
        channel, limit, seed = self.channel, self.request.limit, self.seed
        if seed is None:
            seed = (f"{self.customer_id}\x1f{self.request.session_id}\x1f"
                    f"{self.at.isoformat()}\x1f{channel.id}")  # fmt: skip
        self.permitted = permitted
        explorer_start = channel.explorer.start
        assert explorer_start is not None
        context = Context(
            seed, channel.scoring, channel.strategy, self.belief, self.snapshot.attach_draws
        )
        chooser = explorer_start(channel.exploration, context)
        groups = self.snapshot.exclusions
        taken_groups: dict[str, str] = {}
        used: set[str] = set()
        excluded: set[str] = set()
        count = 0
        results: list[PlacementResult] = []
        choices: list[SlotChoice] = []
        left = ranked[:]  # the candidates not placed or excluded yet, in rank order
        bound = self.snapshot.placement_bound
        for spec, slots in self.placements:
            clashes = bool(taken_groups)  # whether ``left`` may hold a clash
            chosen: list[Shown] = []
            while len(chosen) < slots and (limit is None or count < limit):
                if clashes:
                    left = self.unclashed(left, groups, taken_groups, excluded)
                    clashes = False
                pool = (
                    [
                        c
                        for c in left
                        if c[OFFER].placements is None or spec.id in c[OFFER].placements
                    ]
                    if bound
                    else left
                )
                if not pool:
                    break
                index, probabilities = chooser.choose(pool)
                cand = pool[index]
                _, neg_score, neg_p, offer_id, offer, rules = cand
                probability = probabilities[index]
                slot = SlotChoice(spec.id, len(chosen) + 1, offer_id, probability, pool[:],
                                  probabilities)  # fmt: skip
                choices.append(slot)
                if pool is left:
                    del left[index]
                else:
                    left.remove(cand)
                mine = groups.get(offer_id)
                if mine is not None:
                    for g in mine:
                        taken_groups[g] = offer_id
                    clashes = True
                used.add(offer_id)
                count += 1
                rank = ranked.index(cand) + 1
                chosen.append(self.shown(offer, rank, neg_score, neg_p, rules, probability))
            count += self.fallback(spec, chosen, used, count)
            results.append(PlacementResult(spec.id, tuple(chosen)))
        self.exploration = Exploration(
            kind=channel.exploration.kind,
            strategy=channel.strategy_text,
            strategy_version=f"{self.snapshot.version}:{channel.strategy_digest}",
            seed=seed,
            slots=tuple(choices),
        )
        return self.placed(ranked, results, used, excluded, start)

    def unclashed(
        self,
        pool: list[Scored],
        groups: dict[str, tuple[str, ...]],
        taken: dict[str, str],
        excluded: set[str],
    ) -> list[Scored]:
        """``pool`` without the candidates whose mutual-exclusion group already has an
        offer in the decision (added to ``excluded``, with their reason)."""
        out: set[str] = set()
        for _, _, _, offer_id, _, _ in pool:
            mine = groups.get(offer_id)
            if mine is None:
                continue
            clash = [g for g in mine if g in taken]
            if clash:
                out.add(offer_id)
                if self.detail:
                    self.drops.append((offer_id, "place",
                        f"mutual_exclusion: {taken[clash[0]]} is already offered "
                        f"(policy {clash[0]})"))  # fmt: skip
        if not out:
            return pool
        excluded |= out
        return [cand for cand in pool if cand[OFFER_ID] not in out]

    def belief(self, arm: Arm) -> Belief:
        """What Thompson sampling reads of a candidate: the attach-rate estimate the score
        stage took (the nominating rule's, else the channel's, else the offer's), its match
        multiplier, and its τ with the spread of the customer's interval where the state
        gives one."""
        offer, rules = arm[OFFER], arm[RULES]
        if self.matches is None:
            self.matches = {o.id: match for o, _, match in self.permitted}
        channel_id = self.channel.id
        key: tuple[str, ...] = (
            ("channel", offer.id, channel_id)
            if channel_id in offer.channel_p
            else ("offer", offer.id)
        )
        best: tuple[int, str] | None = None
        for rule in rules:
            if rule.id in offer.rule_p:
                rank = (-rule.priority, rule.id)
                if best is None or rank < best:
                    best, key = rank, ("rule", rule.id, offer.id)
        tau: float | None = None
        sd: float | None = None
        if self.channel.strategy.uses_tau:
            tau = self.uplift(offer)[0]
            state = self.state
            if state is not None and offer.id in state.cate and offer.id in state.cate_intervals:
                lower, upper = state.cate_intervals[offer.id]
                sd = (upper - lower) / (2 * Z95)
        return Belief(key, self.matches[offer.id], tau, sd)

    def control_fallback(self, fallback: str | None) -> tuple[PlacementResult, ...]:
        results = []
        for i, (spec, _) in enumerate(self.placements):
            offers = (_fallback(fallback),) if fallback is not None and i == 0 else ()
            results.append(PlacementResult(spec.id, offers))
        return tuple(results)


def _fallback(offer_id: str) -> Shown:
    return Shown(
        offer=offer_id,
        rank=0,
        score=None,
        ev=None,
        p=None,
        tau=None,
        uplift_segment=None,
        probability=1.0,
        fallback=True,
    )
