"""From a journey definition to a compiled journey version, checked as a whole.

``compile_journey(data, version=…)`` validates the definition (a ``JourneySpec`` or its
JSON form), then checks what spans its parts and reports *every* problem with its place in
one ``JourneyError``:

- step ids: unique; every ``start``, ``next``, ``on_timeout``, ``on_expired``,
  ``branches[i].next`` and ``otherwise`` names a step (``steps[2].next: unknown step 'foo'
  (steps: lead, wait_lead, …)``); every step can be reached from ``start`` (checked once
  the references are sound); no cycle of steps without a wait step in it (it would loop
  forever within one input);
- what a step type requires of the others (a wait ``until`` names an offer step);
- conditions, with the rule language's own messages: the entry condition and segment over
  the customer and the request, branch and exit conditions over the customer and the
  journey's own names (``names.py``);
- given the catalog (``offers``; ``channels`` with their placements), the offers, channels
  and placements of the offer steps.

The catalog comes in as plain ids, so that the core stays pure; from a compiled snapshot::

    compile_journey(data, version=3, customer_schema=snapshot.spec.customer_schema,
                    offers=snapshot.offers,
                    channels={c.id: [p.id for p in c.placements]
                              for c in snapshot.channels.values()})
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import ValidationError

from ..decision import assignment
from ..errors import field_path
from ..rules import CompiledCondition, CustomerSchema, Diagnostic, Environment, RuleError
from ..rules.types import Type
from .errors import JourneyError
from .names import journey_names
from .spec import JourneySpec, StepSpec
from .steps import STEP_TYPES, Offering

__all__ = ["Journey", "compile_journey"]


@dataclass(frozen=True, eq=False)
class Journey:
    """A compiled journey version: the definition with its conditions compiled and its step
    graph checked, as the step function (``advance``) and ``admit`` read it.

    ``steps``: the step specs by id; ``conditions``: each step's compiled conditions (in the
    order its step type gives them); ``offerings``: each offer step's channel, placements and
    offers; ``step_offers``: each offer step's offers as a set; ``goal_offers``: the goal's
    (by default, every offer step's); ``tracked_offers``: every
    offer the journey names (events about them are kept per offer); ``names``: the
    ``journey.*`` names its branch and exit conditions may read, with their types.
    """

    spec: JourneySpec
    version: int
    steps: Mapping[str, StepSpec] = field(repr=False)
    entry: CompiledCondition = field(repr=False)
    segment: CompiledCondition | None = field(repr=False)
    exits: tuple[tuple[CompiledCondition, str], ...] = field(repr=False)
    conditions: Mapping[str, tuple[CompiledCondition, ...]] = field(repr=False)
    offerings: Mapping[str, Offering] = field(repr=False)
    step_offers: Mapping[str, frozenset[str]] = field(repr=False)
    tracked_offers: frozenset[str] = field(repr=False)
    goal_offers: frozenset[str] = field(repr=False)
    names: Mapping[str, Type] = field(repr=False)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def start(self) -> str:
        return self.spec.start

    @property
    def max_duration(self) -> dt.timedelta:
        return self.spec.max_duration

    @property
    def holdout_experiment(self) -> str:
        """The experiment key of the journey's holdout: the same for all its versions."""
        return f"journey:{self.spec.id}"

    def in_holdout(self, customer: str) -> bool:
        """Whether ``customer`` belongs to the journey's holdout (a deterministic hash of the
        journey id and the customer id, as the decision path's holdout does)."""
        return assignment(self.holdout_experiment, customer) < self.spec.holdout_share

    def checks_event(self, event_type: str) -> bool:
        """Whether an event of this type checks the entry condition."""
        return event_type in self.spec.entry.events

    def checks_channel(self, channel: str) -> bool:
        """Whether a decision request on this channel checks the entry condition."""
        return channel in self.spec.entry.channels

    @cached_property
    def reads_context(self) -> bool:
        """Whether ``advance`` may read the customer's context: only its exit conditions and
        its steps' conditions do (a step type reads the context through the conditions it
        declares). Without any, the shell need not read the customer to move them."""
        return bool(self.exits) or any(self.conditions.values())

    def qualifies(self, context: Mapping[str, Any]) -> bool:
        """Whether the entry condition holds on the customer's context."""
        return self.entry(dict(context))

    def in_segment(self, context: Mapping[str, Any]) -> bool:
        """Whether a stored customer is in the outbound segment (and meets the entry
        condition); False for a journey without a segment."""
        ctx = dict(context)
        return self.segment is not None and self.segment(ctx) and self.entry(ctx)


def compile_journey(
    data: JourneySpec | Mapping[str, Any],
    *,
    version: int = 1,
    customer_schema: CustomerSchema | None = None,
    offers: Collection[str] | None = None,
    channels: Mapping[str, Collection[str]] | None = None,
) -> Journey:
    """Validate and compile a journey definition; ``JourneyError`` lists every problem.

    ``customer_schema`` types the customer's attributes in conditions; ``offers`` (offer ids)
    and ``channels`` (channel id → its placement ids) are the catalog the offer steps are
    checked against (None: not checked)."""
    if isinstance(data, JourneySpec):
        spec = data
    else:
        try:
            spec = JourneySpec.model_validate(data)
        except ValidationError as exc:
            raise JourneyError(_validation_problems(exc)) from None
    return _Compiler(spec, version, customer_schema or CustomerSchema(), offers, channels).run()


def _validation_problems(exc: ValidationError) -> list[Diagnostic]:
    found = []
    known = ", ".join(sorted(STEP_TYPES))
    for err in exc.errors(include_url=False):
        path = field_path(err["loc"], STEP_TYPES)
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "union_tag_invalid":
            tag = (err.get("ctx") or {}).get("tag")
            path, message = f"{path}.type", f"unknown step type {tag!r} (known: {known})"
        elif err["type"] == "union_tag_not_found":
            path, message = f"{path}.type", f"a step needs 'type' (one of {known})"
        found.append(Diagnostic(message, path))
    # an error on a list whose items already failed only repeats them: keep the deeper ones
    paths = [d.path for d in found]
    return [
        d
        for d in found
        if not any(p.startswith((f"{d.path}[", f"{d.path}.")) for p in paths if p != d.path)
    ]


class _Compiler:
    def __init__(
        self,
        spec: JourneySpec,
        version: int,
        schema: CustomerSchema,
        offers: Collection[str] | None,
        channels: Mapping[str, Collection[str]] | None,
    ) -> None:
        self.spec, self.version = spec, version
        self.offers, self.channels = offers, channels
        self.problems: list[Diagnostic] = []
        self.where: dict[str, str] = {}  # step id → its place (the first one with the id)
        self.steps: dict[str, StepSpec] = {}
        for i, step in enumerate(spec.steps):
            place = f"steps[{i}]"
            if step.id in self.steps:
                self.add(f"{place}.id", f"duplicate step id {step.id!r} (first at {self.where[step.id]}.id)")  # fmt: skip
                continue
            self.where[step.id], self.steps[step.id] = place, step
        self.offerings: dict[str, Offering] = {}
        for step in self.steps.values():
            offering = STEP_TYPES[step.type].offering(step)
            if offering is not None:
                self.offerings[step.id] = offering
        self.names = journey_names(self.offerings)
        self.entry_env = Environment(schema, offer_names=False)
        self.journey_env = Environment(schema, offer_names=False, extra_names=self.names)

    def add(self, path: str, message: str) -> None:
        self.problems.append(Diagnostic(message, path))

    def compile(self, where: str, env: Environment, condition: Any) -> CompiledCondition | None:
        try:
            return env.compile(condition)
        except RuleError as exc:
            for d in exc.diagnostics:
                self.problems.append(
                    Diagnostic(d.message, d.path.replace("$", where, 1), d.span, d.source)
                )
            return None

    def edges(self, step: StepSpec) -> Iterator[tuple[str, str]]:
        """(field, target) of every step ``step`` may go to, targets known or not."""
        for name, target in STEP_TYPES[step.type].targets(step):
            yield f"{self.where[step.id]}.{name}", target

    def run(self) -> Journey:
        spec, steps = self.spec, self.steps
        listed = ", ".join(steps)
        if spec.start not in steps:
            self.add("start", f"unknown step {spec.start!r} (steps: {listed})")
        for step in steps.values():
            for place, target in self.edges(step):
                if target not in steps:
                    self.add(place, f"unknown step {target!r} (steps: {listed})")
            for name, message in STEP_TYPES[step.type].check(step, steps):
                self.add(f"{self.where[step.id]}.{name}", message)
        if not self.problems:  # a step behind a broken reference is not unreachable itself
            self.reachable()
        self.cycles()
        entry = self.compile("entry.condition", self.entry_env, spec.entry.condition)
        segment = None
        if spec.entry.segment is not None:
            segment = self.compile("entry.segment", self.entry_env, spec.entry.segment)
        exits = []
        for i, e in enumerate(spec.exit_conditions):
            compiled = self.compile(f"exit_conditions[{i}].condition", self.journey_env, e.condition)  # fmt: skip
            if compiled is not None:
                exits.append((compiled, e.reason))
        conditions: dict[str, tuple[CompiledCondition, ...]] = {}
        for step in steps.values():
            found = []
            for name, condition in STEP_TYPES[step.type].conditions(step):
                where = f"{self.where[step.id]}.{name}"
                compiled = self.compile(where, self.journey_env, condition)
                if compiled is not None:
                    found.append(compiled)
            conditions[step.id] = tuple(found)
        self.catalog()
        if self.problems:
            raise JourneyError(self.problems)
        assert entry is not None
        step_offers = {sid: frozenset(o.offers) for sid, o in self.offerings.items()}
        return Journey(
            spec=spec,
            version=self.version,
            steps=steps,
            entry=entry,
            segment=segment,
            exits=tuple(exits),
            conditions=conditions,
            offerings=self.offerings,
            step_offers=step_offers,
            tracked_offers=frozenset().union(*step_offers.values(), spec.goal),
            goal_offers=frozenset(spec.goal or frozenset().union(*step_offers.values())),
            names=self.names,
        )

    def reachable(self) -> None:
        if self.spec.start not in self.steps:
            return
        seen = {self.spec.start}
        todo = [self.spec.start]
        while todo:
            for _, target in self.edges(self.steps[todo.pop()]):
                if target in self.steps and target not in seen:
                    seen.add(target)
                    todo.append(target)
        for sid in self.steps:
            if sid not in seen:
                self.add(f"{self.where[sid]}.id", f"step {sid!r} cannot be reached from the start {self.spec.start!r}")  # fmt: skip

    def cycles(self) -> None:
        """Report each cycle through steps that are not waits (once, at the field that
        closes it, found by a depth-first walk in the order of the steps)."""
        passing = {
            sid: [(place, t) for place, t in self.edges(step) if t in self.steps]
            for sid, step in self.steps.items()
            if not STEP_TYPES[step.type].waits
        }
        state: dict[str, int] = {}  # 1: on the path, 2: done
        path: list[str] = []

        def walk(sid: str) -> None:
            state[sid] = 1
            path.append(sid)
            for place, target in passing[sid]:
                if target not in passing:
                    continue  # a wait breaks the cycle
                if state.get(target) == 1:
                    loop = [*path[path.index(target) :], target]
                    self.add(place, f"the steps {' → '.join(loop)} form a cycle without a wait step (it would loop forever within one input)")  # fmt: skip
                elif target not in state:
                    walk(target)
            path.pop()
            state[sid] = 2

        for sid in passing:
            if sid not in state:
                walk(sid)

    def catalog(self) -> None:
        if self.offers is not None:
            for i, offer in enumerate(self.spec.goal):
                if offer not in self.offers:
                    self.add(f"goal[{i}]", f"unknown offer {offer!r}")
        for sid, offering in self.offerings.items():
            place = self.where[sid]
            if self.offers is not None:
                for i, offer in enumerate(offering.offers):
                    if offer not in self.offers:
                        self.add(f"{place}.offers[{i}]", f"unknown offer {offer!r}")
            if self.channels is None:
                continue
            placements = self.channels.get(offering.channel)
            if placements is None:
                known = ", ".join(sorted(self.channels))
                self.add(f"{place}.channel", f"unknown channel {offering.channel!r} (channels: {known})")  # fmt: skip
                continue
            for i, placement in enumerate(offering.placements):
                if placement not in placements:
                    known = ", ".join(sorted(placements))
                    self.add(f"{place}.placements[{i}]", f"unknown placement {placement!r} on channel {offering.channel!r} (placements: {known})")  # fmt: skip
