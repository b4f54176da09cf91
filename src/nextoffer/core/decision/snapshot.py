"""The snapshot: an immutable, precompiled view of catalog, rules, policies and channels.

``build_snapshot(data)`` validates the plain data (a ``SnapshotSpec`` or its JSON form),
checks every reference and every condition, and reports *every* problem with its place
(``offers[3].eligibility``, ``rules[0].offers[1]``) in one ``SnapshotError``. What it
returns holds compiled conditions, the trigger index and lookup tables, so a decision does
no parsing and no validation.

A snapshot published before the rule language bounded a condition's work (``cost.py``) may
hold a rule whose trigger that bound refuses. Such a rule was published, so it still loads
(``published=``), but **disabled**: it is checked in full otherwise, kept in
``Snapshot.disabled`` with its problems, and left out of the rules and the trigger index, so
it never fires and never runs (a decision pays nothing for it). A rule not published before
is refused as ever.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import NextofferError, field_path
from ..learning.attach import AttachRates, Cell
from ..learning.attach import estimate as estimate_attach
from ..registry import UnknownEntryError
from ..rules import (
    DEFAULT_LIMITS,
    CompiledCondition,
    ContextError,
    Diagnostic,
    Environment,
    RuleError,
    RuleLimitError,
    TriggerIndex,
    coerce_attribute,
)
from ..rules.nodes import Name
from ..rules.types import OFFER_BUILTINS
from .exploration import EXPLORATIONS, AttachDraws, Explorer
from .offer import Offer
from .policies import POLICY_TYPES, ContactPolicy, compile_policies
from .result import FiredRule
from .scoring import STRATEGIES, ScoringStrategy
from .spec import (
    EXPLORATION_FIELDS,
    ChannelSpec,
    ExplorationSpec,
    Guardrails,
    HoldoutSpec,
    OfferSpec,
    PlacementSpec,
    PolicySpec,
    RuleRevisionSpec,
    ScoringSpec,
    SnapshotSpec,
    UpliftEstimate,
)

__all__ = ["Channel", "DisabledRule", "Offer", "Rule", "Snapshot", "SnapshotError",
           "build_snapshot", "render"]  # fmt: skip

# the limits a published rule's trigger is checked against when the cost bound refuses it:
# everything but its work (a rule published before the bound was checked in full otherwise)
_UNBOUNDED = dataclasses.replace(
    DEFAULT_LIMITS, max_quantifier_depth=sys.maxsize, max_cost=sys.maxsize
)


class SnapshotError(NextofferError):
    """The snapshot data is not usable; raised by ``build_snapshot``. ``diagnostics`` lists
    every problem with its place; ``field`` and ``message`` are the first one's."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        assert diagnostics
        self.diagnostics = diagnostics
        first = diagnostics[0]
        super().__init__(first.path, first.message, text="\n".join(render(d) for d in diagnostics))


def render(d: Diagnostic) -> str:
    """``offers[3].eligibility: line 1, column 10: unknown name …`` with a caret, or
    ``rules[0].offers[1]: unknown offer 'x'``."""
    if d.span is not None and d.source is not None:
        return f"{d.path}: {d.render()}"
    return d.render()


def _names(node: Any) -> Iterator[str]:
    """Every name a condition reads."""
    if isinstance(node, Name):
        yield node.path
    for value in vars(node).values():
        children = value if isinstance(value, tuple) else (value,)
        for child in children:
            if isinstance(child, BaseModel):
                yield from _names(child)


@dataclass(frozen=True, slots=True, eq=False)
class Rule:
    id: str
    revision: int
    priority: int
    offers: tuple[str, ...]
    condition: CompiledCondition = field(repr=False)
    targets: tuple[Offer, ...] = field(default=(), repr=False)
    fired: FiredRule = field(default=FiredRule("", 0), repr=False)


@dataclass(frozen=True, slots=True)
class DisabledRule:
    """A published rule loaded disabled: its trigger does more work than the rule language
    allows (it was published before the bound). It never fires; ``problems`` say why
    (``'count' may take up to 752,002 steps on a cart of 500 items ...``)."""

    id: str
    revision: int
    offers: tuple[str, ...]
    trigger: str  # the canonical text
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Channel:
    """A compiled channel. ``strategy`` is its scoring strategy's registry entry and
    ``explorer`` its exploration kind's, resolved when the record is made: an unknown one
    raises ``UnknownEntryError`` here. ``strategy_text`` and ``strategy_digest`` name the
    channel's strategy (scoring and exploration) in what an exploring decision records."""

    id: str
    coupling: str
    placements: tuple[PlacementSpec, ...]
    scoring: ScoringSpec
    min_score: float
    exploration: ExplorationSpec = field(default_factory=ExplorationSpec)
    strategy: ScoringStrategy = field(init=False, repr=False)
    explorer: Explorer = field(init=False, repr=False)
    strategy_text: str = field(init=False, repr=False)
    strategy_digest: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        scoring, exploration = self.scoring, self.exploration
        setattr_ = object.__setattr__
        setattr_(self, "strategy", STRATEGIES[scoring.strategy])
        setattr_(self, "explorer", EXPLORATIONS[exploration.kind])
        setattr_(self, "strategy_text", f"{scoring.strategy}+{exploration.text}")
        canonical = {
            "scoring": {**scoring.model_dump(mode="json"), "min_score": self.min_score},
            "exploration": {"kind": exploration.kind}
            | {k: exploration.setting(k) for k in EXPLORATION_FIELDS[exploration.kind]},
        }
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
        setattr_(self, "strategy_digest", hashlib.blake2b(text.encode(), digest_size=6).hexdigest())

    def placement(self, key: str) -> PlacementSpec | None:
        for p in self.placements:
            if p.id == key:
                return p
        return None


@dataclass(frozen=True)
class Snapshot:
    version: str
    spec: SnapshotSpec = field(repr=False)
    offers: dict[str, Offer] = field(repr=False)
    rules: dict[str, Rule] = field(repr=False)
    index: TriggerIndex[Rule] = field(repr=False)
    open_offers: dict[str, tuple[Offer, ...]] = field(repr=False)
    channels: dict[str, Channel] = field(repr=False)
    contact_policies: tuple[ContactPolicy, ...] = field(repr=False)  # compiled, by priority
    guardrails: Guardrails = field(repr=False)
    holdout: HoldoutSpec | None = field(repr=False)
    attach: AttachRates = field(repr=False)
    uplift: dict[str, UpliftEstimate] = field(repr=False)
    categories: dict[str, str | None] = field(repr=False)
    allowed: dict[str, frozenset[str]] = field(repr=False)
    trace_sample_rate: float = field(repr=False)
    # offer id → the mutual-exclusion policies it belongs to (for the place stage)
    exclusions: dict[str, tuple[str, ...]] = field(repr=False)
    # published rules over the cost bound: loaded, never evaluated (not in rules or index)
    disabled: dict[str, DisabledRule] = field(default_factory=dict, repr=False)
    # whether any offer is restricted to some placements (the place stage checks then)
    placement_bound: bool = field(default=True, repr=False)
    # the attach rates' posterior draws, by their number (Thompson sampling), made as the
    # decisions need them (``attach_draws``)
    posterior_draws: dict[int, AttachDraws] = field(default_factory=dict, repr=False)

    def attach_draws(self, draws: int) -> AttachDraws:
        """``draws`` draws of the attach-rate estimates' posteriors, seeded with the
        version: the same for every decision with this snapshot (``exploration.py``)."""
        found = self.posterior_draws.get(draws)
        if found is None:
            found = self.posterior_draws.setdefault(
                draws, AttachDraws(self.attach, draws, self.version)
            )
        return found


class _Problems:
    def __init__(self) -> None:
        self.found: list[Diagnostic] = []

    def add(self, path: str, message: str) -> None:
        self.found.append(Diagnostic(message, path))

    def from_rule_error(self, where: str, exc: RuleError) -> None:
        for d in exc.diagnostics:
            path = d.path.replace("$", where, 1)
            self.found.append(Diagnostic(d.message, path, d.span, d.source))


def _unique(problems: _Problems, items: list[tuple[str, str]], what: str) -> None:
    seen: dict[str, str] = {}
    for path, key in items:
        if key in seen:
            problems.add(path, f"duplicate {what} {key!r} (first at {seen[key]})")
        else:
            seen[key] = path


def build_snapshot(
    data: SnapshotSpec | Mapping[str, Any],
    *,
    published: bool | Collection[tuple[str, int]] = False,
) -> Snapshot:
    """Validate and compile snapshot data; ``SnapshotError`` lists every problem found.

    ``published`` names the rules that were published already, as (id, revision), or True
    for all of them (a stored snapshot being loaded): one of those whose trigger only the
    cost bound refuses is loaded disabled (``Snapshot.disabled``) instead of refused."""
    if isinstance(data, SnapshotSpec):
        spec = data
    else:
        try:
            spec = SnapshotSpec.model_validate(data)
        except ValidationError as exc:
            raise SnapshotError(
                [
                    Diagnostic(err["msg"].removeprefix("Value error, "), field_path(err["loc"]))
                    for err in exc.errors(include_url=False)
                ]
            ) from None
    return _Builder(spec, published).build()


class _Builder:
    def __init__(
        self, spec: SnapshotSpec, published: bool | Collection[tuple[str, int]] = False
    ) -> None:
        self.spec = spec
        self.published = published if isinstance(published, bool) else frozenset(published)
        self.problems = _Problems()
        self.offer_env = Environment(spec.customer_schema, spec.offer_schema, offer_names=True)
        self.trigger_env = Environment(spec.customer_schema, spec.offer_schema, offer_names=False)
        self.disabled: dict[str, DisabledRule] = {}
        self.offer_ids = {o.id for o in spec.offers}

    def compile(self, where: str, env: Environment, condition: Any) -> CompiledCondition | None:
        if condition is None:
            return None
        try:
            return env.compile(condition)
        except RuleError as exc:
            self.problems.from_rule_error(where, exc)
            return None

    def trigger(self, i: int, r: RuleRevisionSpec) -> CompiledCondition | None:
        """The rule's compiled trigger; None when it has problems (added) or when it is a
        published rule over the cost bound, otherwise valid (disabled: noted, not added)."""
        where = f"rules[{i}].trigger"
        try:
            return self.trigger_env.compile(r.trigger)
        except RuleLimitError as exc:
            published = self.published
            if published is not True and (
                published is False or (r.id, r.revision) not in published
            ):
                self.problems.from_rule_error(where, exc)
                return None
            found = _Problems()
            found.from_rule_error(where, exc)
        except RuleError as exc:
            self.problems.from_rule_error(where, exc)
            return None
        loose = Environment(
            self.spec.customer_schema, self.spec.offer_schema, offer_names=False, limits=_UNBOUNDED
        )
        compiled = self.compile(where, loose, r.trigger)  # every other problem still counts
        if compiled is not None:
            self.disabled.setdefault(
                r.id,
                DisabledRule(r.id, r.revision, tuple(dict.fromkeys(r.offers)), compiled.text,
                             tuple(d.message for d in found.found)),
            )  # fmt: skip
        return None

    def build(self) -> Snapshot:
        """Every problem of the spec at once (``SnapshotError``), else the compiled snapshot:
        ids, then offers, rules, references, counts and estimates, then assembly."""
        self.unique_ids()
        offers = self.offers()
        rules = self.rules()
        self.references()
        cells = self.cells()
        uplift = self.uplift()
        if self.problems.found:
            raise SnapshotError(self.problems.found)
        return self.assemble(offers, rules, cells, uplift)

    def unique_ids(self) -> None:
        spec, problems = self.spec, self.problems
        _unique(
            problems, [(f"products[{i}].sku", p.sku) for i, p in enumerate(spec.products)], "sku"
        )
        _unique(
            problems, [(f"offers[{i}].id", o.id) for i, o in enumerate(spec.offers)], "offer id"
        )
        _unique(problems, [(f"rules[{i}].id", r.id) for i, r in enumerate(spec.rules)], "rule id")
        _unique(problems, [(f"policies[{i}].id", p.id) for i, p in enumerate(spec.policies)], "policy id")  # fmt: skip
        _unique(problems, [(f"channels[{i}].id", c.id) for i, c in enumerate(spec.channels)], "channel id")  # fmt: skip
        placements = [
            (f"channels[{i}].placements[{j}].id", p.id)
            for i, c in enumerate(spec.channels)
            for j, p in enumerate(c.placements)
        ]
        _unique(problems, placements, "placement id")

    def offers(self) -> dict[str, Offer]:
        """Every offer that compiles, by id; its margin is relative to the top margin."""
        spec = self.spec
        products = {p.sku: p for p in spec.products}
        channel_ids = {c.id for c in spec.channels}
        placement_channel = {p.id: c.id for c in spec.channels for p in c.placements}
        margins: list[float] = []
        for o in spec.offers:
            if o.kind == "product" and o.sku in products:
                product = products[o.sku]
                margins.append(product.price - product.cost)
            elif o.value is not None:
                margins.append(o.value)
        top_margin = max([m for m in margins if m > 0], default=1.0)
        offers: dict[str, Offer] = {}
        for i, o in enumerate(spec.offers):
            offer = self.offer(i, o, products, channel_ids, placement_channel, top_margin)
            if offer is not None:
                offers.setdefault(offer.id, offer)
        return offers

    def rules(self) -> dict[str, Rule]:
        """Every live rule whose trigger compiles (and is not disabled), by id."""
        rules: dict[str, Rule] = {}
        offer_ids = self.offer_ids
        for i, r in enumerate(self.spec.rules):
            for j, offer_id in enumerate(r.offers):
                if offer_id not in offer_ids:
                    self.problems.add(f"rules[{i}].offers[{j}]", f"unknown offer {offer_id!r}")
            condition = self.trigger(i, r)
            if condition is not None:
                rules.setdefault(
                    r.id,
                    Rule(r.id, r.revision, r.priority, tuple(dict.fromkeys(r.offers)), condition),
                )
        return rules

    def references(self) -> None:
        """Problems of the policies, the channels and the holdout: what they name exists."""
        spec, problems, offer_ids = self.spec, self.problems, self.offer_ids
        channel_ids = {c.id for c in spec.channels}
        categories: set[str] = {p.category for p in spec.products}
        categories |= {o.category for o in spec.offers if o.category}
        for i, p in enumerate(spec.policies):
            self.policy(i, p, offer_ids, channel_ids, categories)
        for i, c in enumerate(spec.channels):
            try:
                STRATEGIES[c.scoring.strategy]
            except UnknownEntryError as exc:  # a spec made without validation
                problems.add(f"channels[{i}].scoring.{exc.field}", exc.message)
            try:
                EXPLORATIONS[c.exploration.kind]
            except UnknownEntryError as exc:  # a spec made without validation
                problems.add(f"channels[{i}].exploration.{exc.field}", exc.message)
            for j, pl in enumerate(c.placements):
                if pl.fallback_offer is not None and pl.fallback_offer not in offer_ids:
                    problems.add(
                        f"channels[{i}].placements[{j}].fallback_offer",
                        f"unknown offer {pl.fallback_offer!r}",
                    )
        if spec.holdout is not None:
            h = spec.holdout
            if h.fallback_offer is not None and h.fallback_offer not in offer_ids:
                problems.add("holdout.fallback_offer", f"unknown offer {h.fallback_offer!r}")
            for j, ch in enumerate(h.channels):
                if ch not in channel_ids:
                    problems.add(f"holdout.channels[{j}]", f"unknown channel {ch!r}")

    def cells(self) -> dict[tuple[str | None, str | None, str], Cell]:
        """The attach counts, by (rule, channel, offer)."""
        problems, offer_ids = self.problems, self.offer_ids
        channel_ids = {c.id for c in self.spec.channels}
        cells: dict[tuple[str | None, str | None, str], Cell] = {}
        for i, a in enumerate(self.spec.attach):
            if a.offer not in offer_ids:
                problems.add(f"attach[{i}].offer", f"unknown offer {a.offer!r}")
            if a.channel is not None and a.channel not in channel_ids:
                problems.add(f"attach[{i}].channel", f"unknown channel {a.channel!r}")
            # an estimate for a rule that is not live (deactivated, not yet approved) is
            # kept but unused: learning does not have to follow every activation
            if (a.rule, a.channel, a.offer) in cells:
                problems.add(f"attach[{i}]", f"duplicate counts for {a.rule or '*'} → {a.offer}"
                             f" on {a.channel or 'any channel'}")  # fmt: skip
            cells[(a.rule, a.channel, a.offer)] = Cell(
                a.offer, a.rule, a.channel, a.shown, a.accepted
            )
        return cells

    def uplift(self) -> dict[str, UpliftEstimate]:
        """The uplift estimates, by offer."""
        uplift: dict[str, UpliftEstimate] = {}
        for i, u in enumerate(self.spec.uplift):
            if u.offer not in self.offer_ids:
                self.problems.add(f"uplift[{i}].offer", f"unknown offer {u.offer!r}")
            if u.offer in uplift:
                self.problems.add(f"uplift[{i}].offer", f"duplicate estimate for {u.offer!r}")
            uplift[u.offer] = u
        return uplift

    def assemble(
        self,
        offers: dict[str, Offer],
        rules: dict[str, Rule],
        cells: dict[tuple[str | None, str | None, str], Cell],
        uplift: dict[str, UpliftEstimate],
    ) -> Snapshot:
        """The snapshot of a spec without problems: estimates put on each offer, each rule
        pointing at its offers, the trigger index, open offers and exclusions per channel."""
        spec = self.spec
        offer_categories = {o.id: o.category for o in offers.values()}
        attach = estimate_attach(
            cells.values(),
            offer_categories,
            prior=spec.attach_prior,
            strength=spec.attach_prior_strength,
        )
        rule_p: dict[str, dict[str, float]] = {}
        for (rule_id, offer_id), rate in attach.rule.items():
            rule_p.setdefault(offer_id, {})[rule_id] = rate.p
        channel_p: dict[str, dict[str, float]] = {}
        for (offer_id, channel_id), rate in attach.channel.items():
            channel_p.setdefault(offer_id, {})[channel_id] = rate.p
        for offer_id, offer in offers.items():
            estimate = uplift.get(offer_id)
            offers[offer_id] = dataclasses.replace(
                offer,
                p=attach.offer[offer_id].p,
                rule_p=rule_p.get(offer_id, {}),
                channel_p=channel_p.get(offer_id, {}),
                tau=estimate.tau if estimate is not None else None,
                segment=estimate.segment if estimate is not None else None,
            )
        rules = {
            rule_id: dataclasses.replace(
                rule,
                targets=tuple(offers[o] for o in rule.offers),
                fired=FiredRule(rule.id, rule.revision),
            )
            for rule_id, rule in rules.items()
        }
        channels = {c.id: self.channel(c) for c in spec.channels}
        open_offers = {
            ch: tuple(
                o
                for o in offers.values()
                if o.open and o.status == "active" and (o.channels is None or ch in o.channels)
            )
            for ch in channels
        }
        index = TriggerIndex([(rule, rule.condition) for rule in rules.values()])
        exclusions: dict[str, tuple[str, ...]] = {}
        for policy in sorted(spec.policies, key=lambda p: -p.priority):
            if policy.type == "mutual_exclusion":
                for offer_id in policy.offers:
                    exclusions[offer_id] = (*exclusions.get(offer_id, ()), policy.id)
        return Snapshot(
            version=spec.version,
            spec=spec,
            offers=offers,
            rules=rules,
            index=index,
            open_offers=open_offers,
            channels=channels,
            contact_policies=compile_policies(spec.policies),
            guardrails=spec.guardrails,
            holdout=spec.holdout,
            attach=attach,
            uplift=uplift,
            categories=offer_categories,
            allowed={
                ch: frozenset(
                    o.id
                    for o in offers.values()
                    if o.status == "active" and (o.channels is None or ch in o.channels)
                )
                for ch in channels
            },
            trace_sample_rate=spec.trace_sample_rate,
            exclusions=exclusions,
            placement_bound=any(o.placements is not None for o in offers.values()),
            disabled={k: v for k, v in self.disabled.items() if k not in rules},
        )

    def offer(
        self,
        i: int,
        o: OfferSpec,
        products: Mapping[str, Any],
        channel_ids: set[str],
        placement_channel: Mapping[str, str],
        top_margin: float,
    ) -> Offer | None:
        problems, where = self.problems, f"offers[{i}]"
        price: float | None = None
        category = o.category
        if o.kind == "product":
            product = products.get(o.sku or "")
            if product is None:
                problems.add(f"{where}.sku", f"unknown product {o.sku!r}")
                return None
            if category is not None and category != product.category:
                problems.add(
                    f"{where}.category",
                    f"{category!r} differs from product {o.sku}'s category {product.category!r}",
                )
            category, price = product.category, product.price
            margin = product.price - product.cost if o.value is None else o.value
        else:
            margin = o.value or 0.0
        for j, ch in enumerate(o.channels):
            if ch not in channel_ids:
                problems.add(f"{where}.channels[{j}]", f"unknown channel {ch!r}")
        for j, pl in enumerate(o.placements):
            owner = placement_channel.get(pl)
            if owner is None:
                problems.add(f"{where}.placements[{j}]", f"unknown placement {pl!r}")
            elif o.channels and owner not in o.channels:
                problems.add(
                    f"{where}.placements[{j}]",
                    f"placement {pl!r} belongs to channel {owner!r}, not one of the offer's channels",
                )
        offer_ctx: dict[str, Any] = {f"offer.{name}": None for name in OFFER_BUILTINS}
        declared = self.spec.offer_schema.attributes
        for name in declared:
            offer_ctx[f"offer.{name}"] = None
        for name, value in o.attributes.items():
            kind = declared.get(name)
            if kind is None:
                problems.add(f"{where}.attributes.{name}", "not declared in offer_schema")
                continue
            if value is None:
                continue
            try:
                offer_ctx[f"offer.{name}"] = coerce_attribute(
                    f"{where}.attributes.{name}", kind, value
                )
            except ContextError as exc:
                problems.add(exc.field, exc.message)
        offer_ctx.update(
            {
                "offer.id": o.id,
                "offer.sku": o.sku,
                "offer.category": category,
                "offer.price": price,
                "offer.cost": None if price is None else price - margin,
                "offer.value": margin,
                "offer.priority": o.priority,
                "offer.emphasis": o.emphasis,
                "offer.tags": frozenset(o.tags),
            }
        )
        env = self.offer_env
        eligibility = self.compile(f"{where}.eligibility", env, o.eligibility)
        fit = self.compile(f"{where}.fit", env, o.fit)
        match = []
        for j, m in enumerate(o.match):
            compiled = self.compile(f"{where}.match[{j}].condition", env, m.condition)
            if compiled is not None:
                match.append((compiled, m.weight))
        conditions = [c for c in (eligibility, fit, *(c for c, _ in match)) if c is not None]
        reads_offer = any(n.startswith("offer.") for c in conditions for n in _names(c.ast))
        return Offer(
            id=o.id,
            kind=o.kind,
            sku=o.sku,
            name=o.name,
            category=category,
            price=price,
            margin=margin,
            impact=min(1.0, max(0.0, margin / top_margin)),
            priority=o.priority,
            emphasis=o.emphasis,
            eligibility=eligibility,
            fit=fit,
            match=tuple(match),
            match_total=sum(w for _, w in match),
            channels=frozenset(o.channels) or None,
            placements=frozenset(o.placements) or None,
            open=o.open,
            status=o.status,
            offer_ctx=offer_ctx,
            reads_offer=reads_offer,
            checks=tuple(
                (
                    c.evaluator,
                    f"{label} is false: {c.text}",
                    f"{label} is unknown (a value it reads is missing): {c.text}",
                )
                for label, c in (("eligibility", eligibility), ("fit", fit))
                if c is not None
            ),
        )

    def policy(
        self,
        i: int,
        p: PolicySpec,
        offer_ids: set[str],
        channel_ids: set[str],
        categories: set[str],
    ) -> None:
        where = f"policies[{i}]"
        scope = p.scope
        known: dict[str, set[str]] = {
            "channel": channel_ids,
            "offer": offer_ids,
            "category": categories,
        }
        field = "value" if scope.value is not None else "values"
        for member in sorted(scope.members):
            if member not in known[scope.level]:
                self.problems.add(f"{where}.scope.{field}", f"unknown {scope.level} {member!r}")
        for j, offer_id in enumerate(p.offers):
            if offer_id not in offer_ids:
                self.problems.add(f"{where}.offers[{j}]", f"unknown offer {offer_id!r}")
        try:
            POLICY_TYPES[p.type]
        except UnknownEntryError as exc:  # a spec made without validation
            self.problems.add(f"{where}.{exc.field}", exc.message)

    def channel(self, c: ChannelSpec) -> Channel:
        min_score = c.scoring.min_score
        if min_score is None:
            min_score = self.spec.guardrails.min_score
        return Channel(c.id, c.coupling, c.placements, c.scoring, min_score, c.exploration)
