"""Properties of the step function over random sequences of entries, events, ticks and
decision results (hypothesis, derandomized: the same examples on every run)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nextoffer.core.journeys import (
    Decide,
    DecisionResult,
    Enrollment,
    Enter,
    Event,
    Exit,
    Input,
    Journey,
    Progress,
    Tick,
    Transition,
    advance,
    compile_journey,
    journey_context,
    replay,
)
from nextoffer.scenarios import mortgage_journey

from .conftest import CHANNELS, ELIGIBLE, OFFERS, SCHEMA, T0

SETTINGS = settings(max_examples=200, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])  # fmt: skip

# the mortgage journey, and a variant that re-enters at once, retries its lead without end
# in sight, skips blocked appointments and lasts only 20 days
DEFINITIONS: dict[str, dict[str, Any]] = {"mortgage": mortgage_journey()}
_variant = mortgage_journey()
_variant["reentry"] = {"policy": "after_exit"}
_variant["max_duration"] = "20d"
_variant["steps"][0]["on_blocked"] = {"action": "retry", "retry_after": "6h", "max_retries": 50}
_variant["steps"][4]["on_blocked"] = {"action": "skip"}
DEFINITIONS["variant"] = _variant


def _compile(data: dict[str, Any]) -> Journey:
    return compile_journey(data, version=1, customer_schema=SCHEMA, offers=OFFERS, channels=CHANNELS)  # fmt: skip


JOURNEYS = {name: _compile(data) for name, data in DEFINITIONS.items()}
STEPS = sorted(JOURNEYS["mortgage"].steps)
CONTEXTS = [ELIGIBLE, {**ELIGIBLE, "customer.holdings": frozenset({"checking", "mortgage"})}, {}]
EVENT_TYPES = (
    ["click"] * 6 + ["accept"] * 4 + ["impression"] * 4 + ["login"] * 2 + ["decline", "convert"]
)
EVENT_OFFERS = ["mortgage-lead"] * 3 + ["mortgage-appointment", "mortgage", None]
CURRENT = "@current"  # a decision result for the step the customer is at, resolved when driven
REST_PHASES = {"offer": {"deciding", "nominated", "retrying"}, "wait": {"waiting"}}


KINDS = ["enter", "event", "event", "event", "tick", "due", "due", "decision", "decision"]
DELAYS = [(-120, 0), (0, 12 * 60), (24 * 60, 10 * 24 * 60)]  # minutes: a little out of order,
# within the day, days later
SHOWN: list[tuple[str, ...]] = [
    (),
    ("mortgage-lead",),
    ("mortgage-lead",),
    ("mortgage-appointment",),
]
BLOCKED: list[Any] = ["policies", "nothing_eligible", None]
DECIDED_STEPS = [CURRENT] * 6 + STEPS
CONTEXT_PICKS = [0] * 30 + [1, 2]  # mostly the eligible customer as they were

# One input, drawn as plain numbers (cheap to generate) and decoded by ``_input``.
_DRAWN = st.tuples(st.integers(0, len(KINDS) - 1), st.integers(0, len(DELAYS) - 1),
                   st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))  # fmt: skip


class Due(Tick):
    """A tick when the enrollment falls due (its time resolved when driven)."""


def _pick(options: list[Any], n: int) -> Any:
    return options[n % len(options)]


def _input(drawn: tuple[int, int, int, int, int]) -> tuple[Input, int]:
    """An input at T0 plus a delay (a scenario adds the delays up), and its context."""
    kind, delay, a, b, c = drawn
    low, high = DELAYS[delay]
    at = T0 + dt.timedelta(minutes=low + a % (high - low + 1))
    context = _pick(CONTEXT_PICKS, c)
    match KINDS[kind]:
        case "enter":
            return Enter("c-1", at, holdout=b % 10 == 0), context
        case "event":
            value = None if b % 2 else float(b % 2000)
            return Event(
                _pick(EVENT_TYPES, b // 7), at, _pick(EVENT_OFFERS, b // 3), value
            ), context
        case "tick":
            return Tick(at), context
        case "due":
            return Due(at), context
    shown = _pick(SHOWN, b)
    return DecisionResult(_pick(DECIDED_STEPS, b // 5), at, shown=shown,
                          blocked=None if shown else _pick(BLOCKED, b // 11),
                          decision_id=_pick(["d-1", "d-2", None], b // 13),
                          attempt=_pick([None, None, 1, 2, 3], b // 17)), context  # fmt: skip


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[str, list[tuple[Input, int]]]:
    """A journey, and inputs each with the context it comes with (index into CONTEXTS)."""
    name = draw(st.sampled_from(sorted(JOURNEYS)))
    steps = [_input(d) for d in draw(st.lists(_DRAWN, min_size=8, max_size=40))]
    first = Enter("c-1", T0, holdout=draw(st.integers(0, 9)) == 0)
    return name, [(first, 0), *steps]


def _at(arrival: Input, at: dt.datetime) -> Input:
    """The same input at another time."""
    return dataclasses.replace(arrival, at=at) if not isinstance(arrival, Tick) else Tick(at)


@dataclass
class Run:
    journey: Journey
    before: list[Enrollment | None] = field(default_factory=list)
    inputs: list[tuple[Input, dict[str, Any]]] = field(default_factory=list)
    results: list[Progress] = field(default_factory=list)

    @property
    def transitions(self) -> list[Transition]:
        return [t for p in self.results for t in p.transitions]

    @property
    def final(self) -> Enrollment | None:
        return self.results[-1].enrollment


def drive(scenario: tuple[str, list[tuple[Input, int]]]) -> Run:
    name, steps = scenario
    run = Run(JOURNEYS[name])
    enrollment: Enrollment | None = None
    now = T0
    for drawn, context in steps:
        now += drawn.at - T0  # the delays add up: the sequence moves on over days
        arrival = _at(drawn, now)
        if isinstance(drawn, Due) and enrollment is not None and enrollment.due_at is not None:
            now = max(now, enrollment.due_at)
            arrival = Tick(now)
        if isinstance(arrival, DecisionResult) and arrival.step == CURRENT:
            step = enrollment.step if enrollment is not None and enrollment.step else "lead"
            arrival = dataclasses.replace(arrival, step=step)
        progress = advance(run.journey, enrollment, arrival, context=CONTEXTS[context])
        run.before.append(enrollment)
        run.inputs.append((arrival, CONTEXTS[context]))
        run.results.append(progress)
        enrollment = progress.enrollment
    return run


@SETTINGS
@given(scenarios())
def test_status_step_and_phase_are_always_valid(scenario: Any) -> None:
    run = drive(scenario)
    for progress in run.results:
        e = progress.enrollment
        assert e is not None
        assert e.status in ("active", "holdout", "exited")
        assert e.holdout == (e.status == "holdout") or e.status == "exited"
        if e.status == "holdout":
            assert (e.step, e.phase) == (None, "")
        if e.status == "active":
            assert e.step in run.journey.steps
            kind = run.journey.steps[e.step].type
            assert e.phase in REST_PHASES[kind]  # never resting at a branch or an exit
        assert (e.due_at is None) == (e.status == "exited")
        assert e.visited == tuple(dict.fromkeys(e.visited))
        assert e.events == tuple(sorted(set(e.events)))


@SETTINGS
@given(scenarios())
def test_time_never_goes_backwards_in_transitions(scenario: Any) -> None:
    times = [t.at for t in drive(scenario).transitions]
    assert times == sorted(times)


@SETTINGS
@given(scenarios())
def test_transitions_are_numbered_without_gaps(scenario: Any) -> None:
    transitions = drive(scenario).transitions
    assert [t.seq for t in transitions] == list(range(1, len(transitions) + 1))


@SETTINGS
@given(scenarios())
def test_an_exited_enrollment_never_acts_again(scenario: Any) -> None:
    run = drive(scenario)
    for before, (arrival, _), progress in zip(run.before, run.inputs, run.results, strict=True):
        if before is not None and before.status == "exited" and not isinstance(arrival, Enter):
            assert progress == Progress(before, ())
        exits = [i for i, a in enumerate(progress.actions) if isinstance(a, Exit)]
        if exits:  # nothing follows the exit within one input
            assert exits == [len(progress.actions) - 1]


@SETTINGS
@given(scenarios())
def test_the_maximum_duration_is_always_enforced(scenario: Any) -> None:
    run = drive(scenario)
    longest = run.journey.max_duration
    for (arrival, _), progress in zip(run.inputs, run.results, strict=True):
        e = progress.enrollment
        assert e is not None
        if e.status != "exited":
            assert e.due_at is not None
            assert e.due_at <= e.entered_at + longest
            assert e.updated_at < e.entered_at + longest
            assert arrival.at < e.entered_at + longest or isinstance(arrival, Enter)
        for t in progress.transitions:
            assert t.at <= e.entered_at + longest or t.kind == "enter"


def _taken(before: Enrollment | None, arrival: Input) -> bool:
    """Whether the step function takes the input in (rather than ignoring it as it is)."""
    if before is None or not before.active:
        return isinstance(arrival, Enter)
    if isinstance(arrival, Enter):
        return False
    if isinstance(arrival, Event):
        return arrival.at >= before.entered_at
    if isinstance(arrival, DecisionResult):
        return (before.status == "active" and arrival.step == before.step
                and arrival.attempt in (None, before.attempt))  # fmt: skip
    return True


@SETTINGS
@given(scenarios())
def test_an_exit_condition_ends_the_journey_at_once(scenario: Any) -> None:
    run = drive(scenario)
    for before, (arrival, context), progress in zip(run.before, run.inputs, run.results, strict=True):  # fmt: skip
        e = progress.enrollment
        assert e is not None
        if e.status == "exited" or not _taken(before, arrival):
            continue
        now = max(arrival.at, before.updated_at) if before is not None else arrival.at
        names = journey_context(e, now, run.journey.step_offers)
        holding = [reason for condition, reason in run.journey.exits
                   if condition({**context, **names})]  # fmt: skip
        assert holding == [], f"still in the journey although {holding} holds"


@SETTINGS
@given(scenarios())
def test_a_conversion_on_the_lead_ends_the_journey_as_it_arrives(scenario: Any) -> None:
    run = drive(scenario)
    for before, (arrival, _), progress in zip(run.before, run.inputs, run.results, strict=True):
        if (
            isinstance(arrival, Event) and arrival.type == "convert" and arrival.offer == "mortgage"
            and before is not None and before.active and arrival.at >= before.entered_at
        ):  # fmt: skip
            e = progress.enrollment
            assert e is not None
            assert e.status == "exited"
            assert e.exit_reason in ("converted", "max_duration")


@SETTINGS
@given(scenarios())
def test_replaying_the_transitions_rebuilds_the_final_enrollment(scenario: Any) -> None:
    run = drive(scenario)
    assert replay(run.transitions) == run.final
    for progress in run.results:  # and every state on the way, through JSON
        e = progress.enrollment
        assert e is not None
        assert Enrollment.from_dict(e.to_dict()) == e
        for t in progress.transitions:
            assert Transition.from_dict(t.to_dict()) == t


@SETTINGS
@given(scenarios())
def test_the_same_inputs_give_the_same_outputs(scenario: Any) -> None:
    first, again = drive(scenario), drive(scenario)
    assert first.results == again.results
    name, _ = scenario
    rebuilt = Run(_compile(DEFINITIONS[name]))
    enrollment = None
    for arrival, context in first.inputs:
        progress = advance(rebuilt.journey, enrollment, arrival, context=context)
        rebuilt.results.append(progress)
        enrollment = progress.enrollment
    assert rebuilt.results == first.results


@SETTINGS
@given(scenarios())
def test_decisions_are_asked_only_for_the_step_the_customer_rests_at(scenario: Any) -> None:
    run = drive(scenario)
    for progress in run.results:
        e = progress.enrollment
        assert e is not None
        for decide in progress.decisions:
            assert isinstance(decide, Decide)
            assert not e.holdout
            offering = run.journey.offerings[decide.step]
            assert (decide.channel, decide.offers, decide.mode) == (offering.channel, offering.offers, offering.mode)  # fmt: skip
        if progress.decisions and e.status == "active":
            assert progress.decisions[-1].step == e.step
            assert progress.decisions[-1].attempt == e.attempt
