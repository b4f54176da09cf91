"""The decision path: candidates → qualify → policies → score → gates → rank → place → holdout.

``decide(snapshot, request, state)`` is pure: the same snapshot, state and request always
give the same decision (only the stage timings in the trace differ). Every candidate that
leaves says at which stage and why, when the trace is detailed.
"""

from __future__ import annotations

import hashlib
import operator
import time
from typing import Any

from ..request import Request
from ..rules import ContextError, build_context, coerce_attribute
from . import scoring
from .policies import PolicyCheck
from .result import (
    Decision,
    DecisionError,
    PlacementResult,
    Shown,
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


class _Candidate:
    """A qualified offer on its way through the stages (scores are set by the score stage)."""

    __slots__ = ("key", "match", "offer", "p", "rules", "score")

    p: float
    score: float
    key: tuple[int, float, float, str]  # the rank: priority, score, attach rate, offer id

    def __init__(self, offer: Offer, rules: list[Rule] | tuple[Rule, ...], match: float) -> None:
        # the other slots are set by the score stage, before anything reads them
        self.offer, self.rules, self.match = offer, rules, match


def _ms(start: int) -> float:
    return (time.perf_counter_ns() - start) / 1000


def _truth(value: Any) -> str:
    return "false" if value is False else "unknown (a value it reads is missing)"


def decide(
    snapshot: Snapshot,
    request: Request,
    state: CustomerState | None = None,
    *,
    now: Any = None,
    detail: bool | None = None,
) -> Decision:
    """Decide which offers to show where for ``request``.

    ``now`` is used when the request has no ``at``. ``detail`` forces the per-candidate
    trace on or off; by default the snapshot's ``trace_sample_rate`` decides, per request.
    Raises ``DecisionError`` (naming the field) for a request that cannot be decided.
    """
    return _Decider(snapshot, request, state, now, detail).run()


class _Decider:
    def __init__(
        self,
        snapshot: Snapshot,
        request: Request,
        state: CustomerState | None,
        now: Any,
        detail: bool | None,
    ) -> None:
        self.snapshot, self.request, self.state = snapshot, request, state
        at = request.at if request.at is not None else now
        if at is None:
            raise DecisionError("at", "a decision needs the time of the request")
        if at.tzinfo is None:
            raise DecisionError("at", "needs a time zone offset, such as 2026-03-08T14:30:00Z")
        self.at = at
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
        self.stages: list[StageTrace] = []

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
            raise DecisionError(exc.field, str(exc).split(": ", 1)[1]) from None
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
                    raise DecisionError(exc.field, str(exc).split(": ", 1)[1]) from None
            for name, values in (("segments", state.segments), ("holdings", state.holdings)):
                key = f"customer.{name}"
                ctx[key] = ctx.get(key, frozenset()) | frozenset(values)
        return ctx

    # -- the stages ---------------------------------------------------------------------

    def run(self) -> Decision:
        started = time.perf_counter_ns()
        ctx = self.context()
        snapshot, channel, detail = self.snapshot, self.channel, self.detail

        # 1. candidates: nominated by matching rules, plus offers open on the channel
        start = time.perf_counter_ns()
        fired = snapshot.index.match(ctx)
        allowed = snapshot.allowed[channel.id]  # active offers that may appear on the channel
        in_cart: frozenset[str] = ctx.get("cart.skus", frozenset())
        held: frozenset[str] = ctx.get("customer.holdings", frozenset())
        drop = self.drops.append  # (offer, stage, reason), only when the trace is detailed
        # offer id → (offer, the rules that nominated it); None: nominated, and excluded
        cands: dict[str, tuple[Offer, list[Rule] | tuple[Rule, ...]] | None] = {}
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
                    cand[1].append(rule)
        for offer in snapshot.open_offers[channel.id]:
            if offer.id not in cands:
                if not (offer.sku in in_cart or (held and (offer.sku in held or offer.id in held))):
                    cands[offer.id] = (offer, _NO_RULES)
                else:
                    cands[offer.id] = None
                    if detail:
                        drop((offer.id, "candidates", self.excluded(offer, in_cart)))
        entered = len(cands)
        kept = [c for c in cands.values() if c is not None]
        self.stage("candidates", entered, len(kept), start)

        # 2. qualify: eligibility and fit are hard filters, match a soft multiplier
        start, entered = time.perf_counter_ns(), len(kept)
        qualified: list[_Candidate] = []
        keep = qualified.append
        for offer, rules in kept:
            if offer.unconditional:
                keep(_Candidate(offer, rules, 1.0))
                continue
            if offer.reads_offer:
                ctx.update(offer.offer_ctx)
            failed = None
            for label, cond in offer.checks:
                value = cond.evaluator(ctx)
                if value is not True:
                    failed = (label, cond, value)
                    break
            if failed is not None:
                if detail:
                    label, cond, value = failed
                    drop((offer.id, "qualify", f"{label} is {_truth(value)}: {cond.text}"))
                continue
            match = 1.0
            if offer.match:
                hit = 0.0
                for cond, weight in offer.match:
                    if cond.evaluator(ctx) is True:
                        hit += weight
                match = 0.1 + 0.9 * hit / offer.match_total
            keep(_Candidate(offer, rules, match))
        self.stage("qualify", entered, len(qualified), start)

        # 3. policies
        start, entered = time.perf_counter_ns(), len(qualified)
        permitted: list[_Candidate]
        if snapshot.contact_policies:
            check = PolicyCheck(
                snapshot.contact_policies,
                self.state,
                at=self.at,
                channel=channel.id,
                session_id=self.request.session_id,
                categories=snapshot.categories,
            )
            by_offer = check.by_offer
            # Without a shared block, only offers with a history can be stopped.
            at_risk = (
                qualified
                if check.shared_block
                else [c for c in qualified if c.offer.id in by_offer]
            )
            stopped: set[str] = set()
            for cand in at_risk:
                blocked = check.blocked(cand.offer)
                if blocked is not None:
                    stopped.add(cand.offer.id)
                    if detail:
                        drop((cand.offer.id, "policies", f"{blocked[0]}: {blocked[1]}"))
            permitted = (
                [c for c in qualified if c.offer.id not in stopped] if stopped else qualified
            )
        else:
            permitted = qualified
        self.stage("policies", entered, len(permitted), start)

        # 4. score
        start, entered = time.perf_counter_ns(), len(permitted)
        scored = self.score(permitted)
        self.stage("score", entered, len(scored), start)

        # 5. gates: minimum score, price-delta cap
        start, entered = time.perf_counter_ns(), len(scored)
        passed: list[_Candidate] = []
        min_score = channel.min_score
        cap_share = snapshot.guardrails.max_price_share
        total = ctx.get("cart.total") or 0.0
        cap = cap_share * total if cap_share is not None and total > 0 else None
        unit = "" if channel.scoring.strategy == "prie" else " (money)"
        for cand in scored:
            offer = cand.offer
            if cand.score < min_score:
                if detail:
                    drop(
                        (
                            offer.id,
                            "gates",
                            f"min_score: score {cand.score:.4g} < {min_score:g}{unit}",
                        )
                    )
            elif cap is not None and offer.price is not None and offer.price > cap:
                if detail:
                    drop((offer.id, "gates", f"price_delta_cap: price {offer.price:.2f} > "
                          f"{cap_share:.0%} of the cart total {total:.2f} ({cap:.2f})"))  # fmt: skip
            else:
                passed.append(cand)
        self.stage("gates", entered, len(passed), start)

        # 6. rank: priority, then score, then attach rate, then offer id
        start = time.perf_counter_ns()
        passed.sort(key=_RANK_KEY)
        self.stage("rank", len(passed), len(passed), start)

        # 7. place
        start = time.perf_counter_ns()
        placements, cascade = self.place(passed)
        placed = sum(len(p.offers) for p in placements)
        self.stage("place", len(passed), placed, start)

        # 8. holdout
        start = time.perf_counter_ns()
        control, experiment = False, None
        counterfactual: tuple[PlacementResult, ...] = ()
        holdout = snapshot.holdout
        if (
            holdout is not None
            and self.customer_id is not None
            and (not holdout.channels or channel.id in holdout.channels)
        ):
            experiment = holdout.experiment
            if assignment(holdout.experiment, self.customer_id) < holdout.share:
                control, counterfactual = True, placements
                placements = self.control_fallback(holdout.fallback_offer)
                if detail:
                    reason = (f"customer is in the control group of {holdout.experiment} "
                              f"({holdout.share:.0%}); logged as what they would have got")  # fmt: skip
                    self.drops += [
                        (s.offer, "holdout", reason) for p in counterfactual for s in p.offers
                    ]
        shown = sum(len(p.offers) for p in placements)
        self.stage("holdout", placed, shown, start)
        self.stages.append(StageTrace("total", entered=len(cands), left=shown, micros=_ms(started)))

        return Decision(
            snapshot_version=snapshot.version,
            customer_id=self.customer_id,
            channel=channel.id,
            session_id=self.request.session_id,
            placements=placements,
            control=control,
            experiment=experiment,
            counterfactual=counterfactual,
            rules_fired=tuple(r.fired for r in fired),
            cascade=cascade,
            trace=Trace(tuple(self.stages), tuple(self.drops), detail),
        )

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

    def score(self, cands: list[_Candidate]) -> list[_Candidate]:
        scoring_spec = self.channel.scoring
        strategy = scoring_spec.strategy
        out: list[_Candidate] = []
        keep = out.append
        channel_id = self.channel.id
        for cand in cands:
            offer = cand.offer
            priority = offer.priority
            p = offer.channel_p.get(channel_id, offer.p) if offer.channel_p else offer.p
            if cand.rules:
                best: tuple[int, str] | None = None
                for rule in cand.rules:
                    if rule.priority > priority:
                        priority = rule.priority
                    if offer.rule_p and rule.id in offer.rule_p:
                        key = (-rule.priority, rule.id)
                        if best is None or key < best:
                            best, p = key, offer.rule_p[rule.id]
            cand.p = p
            if strategy == "expected_value":  # EV = attach rate × margin
                score = p * offer.margin * cand.match
            else:
                tau = self.uplift(offer)[0]
                if strategy == "prie":
                    score = scoring.prie(
                        scoring_spec,
                        p=p,
                        match=cand.match,
                        impact=offer.impact,
                        emphasis=offer.emphasis,
                        tau=tau,
                    )
                elif tau is None:
                    if self.detail:
                        self.drops.append(
                            (offer.id, "score", "incremental_value: no uplift estimate (τ)")
                        )
                    continue
                else:
                    score = scoring.incremental_value(tau, offer.margin, cand.match)
            cand.score = score
            # rank: priority, then score, then attach rate, then offer id
            cand.key = (-priority, -score, -p, offer.id)
            keep(cand)
        return out

    def place(self, ranked: list[_Candidate]) -> tuple[tuple[PlacementResult, ...], str | None]:
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
            for rank, cand in enumerate(ranked, start=1):
                if len(chosen) >= slots or (limit is not None and count >= limit):
                    break
                offer = cand.offer
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
                tau, segment = self.uplift(offer)
                chosen.append(
                    Shown(
                        offer=offer.id,
                        rank=rank,
                        score=cand.score,
                        ev=cand.p * offer.margin,
                        p=cand.p,
                        tau=tau,
                        uplift_segment=segment,
                        probability=1.0,
                        rules=tuple([r.id for r in cand.rules]),
                    )
                )
            fallback = spec.fallback_offer
            if (
                not chosen
                and fallback is not None
                and fallback not in used
                and (limit is None or count < limit)
            ):
                used.add(fallback)
                count += 1
                chosen.append(_fallback(fallback))
            results.append(PlacementResult(spec.id, tuple(chosen)))
        if detail:
            gone = used | excluded if excluded else used
            self.drops += [
                (c.offer.id, "place", _NO_SLOT) for c in ranked if c.offer.id not in gone
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
        return tuple(results), cascade

    def control_fallback(self, fallback: str | None) -> tuple[PlacementResult, ...]:
        results = []
        for i, (spec, _) in enumerate(self.placements):
            offers = (_fallback(fallback),) if fallback is not None and i == 0 else ()
            results.append(PlacementResult(spec.id, offers))
        return tuple(results)


_RANK_KEY = operator.attrgetter("key")


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
