"""Every error the core raises derives from one root that carries a field and a message."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import nextoffer.core
from nextoffer.core.decision import DecisionError, SnapshotError, build_snapshot
from nextoffer.core.errors import NextofferError
from nextoffer.core.rules import ContextError, Diagnostic, RuleError, RuleSyntaxError
from nextoffer.core.rules.context import coerce_attribute


def _core_errors() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for info in pkgutil.walk_packages(nextoffer.core.__path__, "nextoffer.core."):
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == module.__name__:
                found.append(value)
    return found


def test_every_core_error_class_derives_from_the_root() -> None:
    errors = _core_errors()
    assert len(errors) >= 10  # the rule errors, context, snapshot, decision, learning, registry
    assert [e.__qualname__ for e in errors if not issubclass(e, NextofferError)] == []


def test_the_root_is_a_value_error_with_field_and_message() -> None:
    exc = NextofferError("offers[0].sku", "unknown product 'x'")
    assert isinstance(exc, ValueError)
    assert (exc.field, exc.message, str(exc)) == ("offers[0].sku", "unknown product 'x'",
                                                  "offers[0].sku: unknown product 'x'")  # fmt: skip
    assert str(NextofferError("", "no field")) == "no field"


def test_a_context_error_carries_its_message_without_the_field() -> None:
    with pytest.raises(ContextError) as caught:
        coerce_attribute("customer.tenure", "int", "many")
    exc = caught.value
    assert isinstance(exc, NextofferError)
    assert exc.field == "customer.tenure"
    assert exc.message == "expected int, got str 'many'"
    assert str(exc) == f"customer.tenure: {exc.message}"


def test_a_rule_error_carries_its_first_problem_and_says_them_all() -> None:
    exc = RuleSyntaxError([Diagnostic("first", "$.left"), Diagnostic("second", "$.right")])
    assert isinstance(exc, RuleError)
    assert isinstance(exc, NextofferError)
    assert (exc.field, exc.message) == ("$.left", "first")
    assert str(exc) == "$.left: first\n$.right: second"


def test_a_snapshot_error_carries_its_first_problem_and_says_them_all() -> None:
    with pytest.raises(SnapshotError) as caught:
        build_snapshot({"version": "v1", "rules": [{"id": "r", "trigger": "true",
                                                    "offers": ["nope", "nada"]}]})  # fmt: skip
    exc = caught.value
    assert isinstance(exc, NextofferError)
    assert exc.field == "rules[0].offers[0]"
    assert exc.message == "unknown offer 'nope'"
    assert str(exc).splitlines()[0] == "rules[0].offers[0]: unknown offer 'nope'"


def test_a_decision_error_keeps_its_text() -> None:
    exc = DecisionError("channel", "a decision needs the channel")
    assert isinstance(exc, NextofferError)
    assert str(exc) == "channel: a decision needs the channel"
