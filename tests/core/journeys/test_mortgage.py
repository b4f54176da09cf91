"""The bank's mortgage journey of issue 19, end to end through the step function.

An e-mail lead for eligible customers; wait up to 7 days for a click or accept on it;
responders get the branch appointment offer at the branch (then in the app); non-responders
get one reminder, then exit; a mortgage conversion exits with "converted"; 10% holdout.
"""

from __future__ import annotations

from typing import Any

from nextoffer.core.journeys import (
    Admission,
    DecisionResult,
    Enrollment,
    Enter,
    Event,
    Input,
    Progress,
    Tick,
    Transition,
    admit,
    advance,
    replay,
)

from .conftest import ELIGIBLE, at, mortgage

JOURNEY = mortgage()


class Customer:
    """One customer going through the journey: feeds inputs, keeps every action."""

    def __init__(self, customer: str = "c-1", context: dict[str, Any] | None = None) -> None:
        self.customer = customer
        self.context = context if context is not None else ELIGIBLE
        self.enrollment: Enrollment | None = None
        self.progress = Progress(None, ())
        self.actions: list[Any] = []

    def send(self, arrival: Input) -> Customer:
        self.progress = advance(JOURNEY, self.enrollment, arrival, context=self.context)
        self.enrollment = self.progress.enrollment
        self.actions += self.progress.actions
        return self

    def enter(self, holdout: bool = False) -> Customer:
        return self.send(Enter(self.customer, at(), holdout))

    def tick_when_due(self) -> Customer:
        assert self.enrollment is not None
        assert self.enrollment.due_at is not None
        return self.send(Tick(self.enrollment.due_at))

    @property
    def path(self) -> list[str]:
        """The steps entered, in order, and the exit reason."""
        out: list[str] = []
        for t in self.actions:
            if isinstance(t, Transition) and t.kind in ("enter", "move") and t.to_step:
                out.append(t.to_step)
            elif isinstance(t, Transition) and t.kind == "exit":
                out.append(f"exit:{t.reason}")
        return out

    @property
    def decided(self) -> list[tuple[str, str, str]]:
        return [(d.step, d.channel, d.mode) for d in self.actions if hasattr(d, "mode")]

    @property
    def transitions(self) -> list[Transition]:
        return [a for a in self.actions if isinstance(a, Transition)]


def test_an_eligible_customer_qualifies_and_others_do_not() -> None:
    assert JOURNEY.qualifies(ELIGIBLE)
    assert not JOURNEY.qualifies({**ELIGIBLE, "customer.tier": "basic"})
    assert not JOURNEY.qualifies({**ELIGIBLE, "customer.holdings": frozenset({"mortgage"})})
    assert JOURNEY.in_segment(ELIGIBLE)
    assert not JOURNEY.in_segment({**ELIGIBLE, "customer.balance": 500.0})


def test_a_responder_gets_the_appointment_at_the_branch() -> None:
    c = Customer().enter().send(DecisionResult("lead", at(), shown=("mortgage-lead",)))
    c.send(Event("click", at(2), offer="mortgage-lead"))
    assert c.path == ["lead", "wait_lead", "responded", "appointment"]
    assert c.decided == [("lead", "email", "outbound"), ("appointment", "branch", "inbound")]
    c.send(DecisionResult("appointment", at(5), shown=("mortgage-appointment",)))
    c.tick_when_due()
    assert c.path[-3:] == ["follow_up", "offered", "exit:appointment_offered"]
    assert c.transitions[-1].at == at(35)


def test_an_accept_is_a_response_too() -> None:
    c = Customer().enter().send(DecisionResult("lead", at(), shown=("mortgage-lead",)))
    c.send(Event("accept", at(6), offer="mortgage-lead"))
    assert c.path[-1] == "appointment"


def test_a_non_responder_gets_one_reminder_then_exits() -> None:
    c = Customer().enter().send(DecisionResult("lead", at(), shown=("mortgage-lead",)))
    c.tick_when_due()
    assert c.path[-3:] == ["wait_lead", "responded", "reminder"]
    c.send(DecisionResult("reminder", at(7), shown=("mortgage-lead",)))
    c.tick_when_due()
    assert c.path == ["lead", "wait_lead", "responded", "reminder", "wait_lead", "responded",
                      "no_response", "exit:no_response"]  # fmt: skip
    assert [step for step, _, _ in c.decided] == ["lead", "reminder"]
    assert c.transitions[-1].at == at(14)


def test_a_customer_who_responds_to_the_reminder_gets_the_appointment() -> None:
    c = Customer().enter().send(DecisionResult("lead", at(), shown=("mortgage-lead",)))
    c.tick_when_due().send(DecisionResult("reminder", at(7), shown=("mortgage-lead",)))
    c.send(Event("click", at(9), offer="mortgage-lead"))
    assert c.path[-2:] == ["responded", "appointment"]


def test_a_customer_who_skips_the_branch_gets_the_appointment_in_the_app() -> None:
    c = Customer().enter().send(DecisionResult("lead", at(), shown=("mortgage-lead",)))
    c.send(Event("click", at(1), offer="mortgage-lead"))
    c.tick_when_due()  # 14 days without coming to the branch
    assert c.path[-1] == "appointment_app"
    assert c.decided[-1] == ("appointment_app", "in_app", "inbound")
    c.tick_when_due()
    assert c.path[-2:] == ["not_taken", "exit:appointment_not_taken"]


def test_a_mortgage_conversion_exits_as_converted_even_mid_wait() -> None:
    c = Customer().enter().send(DecisionResult("lead", at(), shown=("mortgage-lead",)))
    c.send(Event("convert", at(3), offer="mortgage", value=1400.0))
    assert c.path[-1] == "exit:converted"
    assert c.enrollment is not None
    assert (c.enrollment.step, c.enrollment.exit_reason) == ("wait_lead", "converted")


def test_a_customer_holding_a_mortgage_now_exits_as_converted_on_the_next_tick() -> None:
    c = Customer().enter().send(DecisionResult("lead", at(), shown=("mortgage-lead",)))
    c.context = {**ELIGIBLE, "customer.holdings": frozenset({"checking", "mortgage"})}
    c.send(Tick(at(1)))
    assert c.path[-1] == "exit:converted"


def test_declining_the_lead_exits_as_declined() -> None:
    c = Customer().enter().send(DecisionResult("lead", at(), shown=("mortgage-lead",)))
    c.send(Event("decline", at(1), offer="mortgage-lead"))
    assert c.path[-1] == "exit:declined"


def test_a_lead_blocked_by_the_contact_cap_is_retried_three_times_then_exits() -> None:
    c = Customer().enter()
    for attempt in range(1, 5):
        assert c.enrollment is not None
        assert c.enrollment.attempt == attempt
        c.send(DecisionResult("lead", c.enrollment.updated_at, blocked="policies"))
        if attempt < 4:
            c.tick_when_due()
    assert [d.attempt for d in c.actions if hasattr(d, "mode")] == [1, 2, 3, 4]
    assert c.path[-1] == "exit:blocked"
    assert c.transitions[-1].at == at(6)


def test_a_holdout_customer_enters_gets_nothing_and_counts_their_conversion() -> None:
    c = Customer().enter(holdout=True)
    assert c.decided == []
    c.send(Event("convert", at(20), offer="mortgage", value=1400.0))
    assert c.path[-1] == "exit:converted"
    assert c.enrollment is not None
    assert c.enrollment.holdout


def test_a_tenth_of_customers_are_held_out_deterministically() -> None:
    held = [JOURNEY.in_holdout(f"c-{i}") for i in range(10_000)]
    assert 0.09 < sum(held) / len(held) < 0.11
    assert held == [JOURNEY.in_holdout(f"c-{i}") for i in range(10_000)]


def test_nobody_stays_longer_than_ninety_days() -> None:
    c = Customer().enter().send(DecisionResult("lead", at(), shown=("mortgage-lead",)))
    c.send(Event("click", at(1), offer="mortgage-lead"))
    c.send(Tick(at(200)))
    assert c.path[-1] == "exit:max_duration"
    assert c.transitions[-1].at == at(90)


def test_a_customer_may_come_back_after_ninety_days_twice_in_all() -> None:
    c = Customer().enter().send(DecisionResult("lead", at(), shown=("mortgage-lead",)))
    c.send(Event("decline", at(1), offer="mortgage-lead"))
    assert admit(JOURNEY, c.enrollment, at(50)) == Admission(False, "reentry_wait", at(91))
    c.send(Enter("c-1", at(91)))
    assert c.enrollment is not None
    assert (c.enrollment.entries, c.enrollment.step) == (2, "lead")
    c.send(Event("decline", at(92), offer="mortgage-lead"))
    assert admit(JOURNEY, c.enrollment, at(300)) == Admission(False, "max_entries")


def test_the_whole_path_replays_from_its_transitions() -> None:
    c = Customer().enter().send(DecisionResult("lead", at(), shown=("mortgage-lead",)))
    c.tick_when_due().send(DecisionResult("reminder", at(7), shown=("mortgage-lead",)))
    c.send(Event("click", at(9), offer="mortgage-lead"))
    c.send(DecisionResult("appointment", at(10), shown=("mortgage-appointment",)))
    c.send(Event("convert", at(12), offer="mortgage", value=1400.0))
    assert replay(c.transitions) == c.enrollment
    assert [t.seq for t in c.transitions] == list(range(1, len(c.transitions) + 1))
