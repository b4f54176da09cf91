"""Extra names: a caller (a journey) adds typed names that only its conditions see."""

from __future__ import annotations

import pytest

from nextoffer.core.rules import Environment, RuleTypeError, Scope
from nextoffer.core.rules.types import FLOAT, STRING, STRING_LIST

EXTRA = {"journey.days": FLOAT, "journey.steps.lead.events": STRING_LIST}


def test_an_extra_name_is_checked_with_its_type_and_read_from_the_context() -> None:
    env = Environment(extra_names=EXTRA, offer_names=False)
    cond = env.compile('"click" in journey.steps.lead.events and journey.days < 7')
    assert cond({"journey.steps.lead.events": frozenset({"click"}), "journey.days": 2.5})
    assert not cond({"journey.steps.lead.events": frozenset({"accept"}), "journey.days": 2.5})


def test_a_misspelt_extra_name_gets_a_did_you_mean() -> None:
    env = Environment(extra_names=EXTRA)
    with pytest.raises(RuleTypeError) as caught:
        env.compile('"click" in journey.steps.led.events')
    assert caught.value.message == (
        "unknown name 'journey.steps.led.events' (did you mean 'journey.steps.lead.events'?)"
    )


def test_an_extra_name_of_the_wrong_type_is_refused_with_the_checkers_message() -> None:
    env = Environment(extra_names=EXTRA)
    with pytest.raises(RuleTypeError) as caught:
        env.compile('journey.days == "7"')
    assert caught.value.message == "cannot compare float with string"


def test_without_extra_names_the_journey_names_are_unknown() -> None:
    with pytest.raises(RuleTypeError) as caught:
        Environment().compile("journey.days < 7")
    assert caught.value.message == "unknown name 'journey.days'"


def test_an_extra_name_cannot_replace_a_name_the_scope_has() -> None:
    with pytest.raises(ValueError, match="extra names the scope already has: channel"):
        Scope(extra={"channel": STRING})


def test_a_quantifier_variable_may_not_hide_an_extra_names_head() -> None:
    env = Environment(extra_names=EXTRA)
    with pytest.raises(RuleTypeError) as caught:
        env.compile("count(journey in cart.items: journey.price > 1) > 0")
    assert caught.value.message == "variable 'journey' hides another name; choose another"
