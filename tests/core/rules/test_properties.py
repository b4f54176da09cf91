"""Property tests: the compiler agrees with the reference interpreter; text and JSON round-trip."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings

from nextoffer.core.rules import compile_ast, condition_adapter, interpret, parse_text, to_text
from nextoffer.core.rules.nodes import Condition

from .strategies import ENV, conditions, contexts

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(conditions())
def test_random_conditions_are_well_typed(node: Condition) -> None:
    ENV.check(ENV.load(node))


@SETTINGS
@given(conditions(), contexts())
def test_compiled_evaluator_agrees_with_reference_interpreter(
    node: Condition, ctx: dict[str, Any]
) -> None:
    expected = interpret(node, ctx)
    working = dict(ctx)
    got = compile_ast(node)(working)
    assert got == expected
    assert type(got) is type(expected)
    # Quantifier variables are removed again; only caches (keys no rule name can spell) stay.
    cached = {k: v for k, v in working.items() if k.startswith("#")}
    assert {k: v for k, v in working.items() if k not in cached} == ctx
    assert set(cached) <= {"#cart.items by sku", "#cart.items by category"}


@SETTINGS
@given(conditions())
def test_print_then_parse_gives_back_the_same_ast(node: Condition) -> None:
    text = to_text(node)
    assert parse_text(text).ast == node
    assert to_text(parse_text(text).ast) == text


@SETTINGS
@given(conditions())
def test_json_form_round_trips(node: Condition) -> None:
    dumped = condition_adapter.dump_json(node)
    assert condition_adapter.validate_json(dumped) == node
    assert ENV.load(condition_adapter.dump_python(node, mode="json")).ast == node
