"""Customer attributes against the declared schema: every problem at once, by name; personal
attributes declared in the schema, kept apart, unseen by conditions."""

from __future__ import annotations

from typing import Any

import pytest

from nextoffer.core.rules import CustomerSchema, Environment, RuleError

SCHEMA = CustomerSchema.model_validate(
    {
        "attributes": {
            "tier": "string",
            "tenureMonths": "int",
            "balance": "float",
            "hasCreditCard": "bool",
            "since": "date",
            "tags": "list[string]",
            "email": {"type": "string", "personal": True},
            "age": {"type": "int", "personal": False},
        }
    }
)


def _problems(attributes: dict[str, Any], *, personal: bool = False) -> dict[str, str]:
    return dict(SCHEMA.check.problems(attributes, "customer.attributes", personal=personal))


def test_a_schema_declares_personal_attributes_and_is_written_back_as_declared() -> None:
    assert SCHEMA.personal == {"email": "string"}
    assert SCHEMA.attributes["age"] == "int"
    assert "email" not in SCHEMA.attributes
    dumped = SCHEMA.model_dump(mode="json")
    assert dumped["attributes"]["email"] == {"type": "string", "personal": True}
    assert CustomerSchema.model_validate(dumped) == SCHEMA


@pytest.mark.parametrize(
    "declared",
    [{"x": {"personal": True}}, {"x": {"type": "string", "personal": "yes"}},
     {"x": {"type": "string", "secret": True}}, {"x": {"type": "blob", "personal": True}}],
)  # fmt: skip
def test_a_malformed_attribute_declaration_is_refused(declared: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="x"):
        CustomerSchema.model_validate({"attributes": declared})


def test_every_mistyped_attribute_is_named_at_once() -> None:
    problems = _problems({"tenureMonths": "lots", "balance": "rich", "hasCreditCard": "yes",
                          "tier": {"a": 1}, "since": "soon", "tags": ["a", 3]})  # fmt: skip
    assert set(problems) == {f"customer.attributes.{k}" for k in
                             ("tenureMonths", "balance", "hasCreditCard", "tier", "since", "tags")}  # fmt: skip
    assert problems["customer.attributes.tenureMonths"] == "expected int, got str 'lots'"
    assert "bool" in problems["customer.attributes.hasCreditCard"]


@pytest.mark.parametrize(
    ("name", "value"),
    [("tenureMonths", 10**4000), ("tenureMonths", 10**15 + 1), ("tenureMonths", 3.0),
     ("tenureMonths", True), ("balance", 10**4000), ("balance", float("inf")),
     ("balance", float("nan")), ("balance", -1e16), ("tier", "x" * 1001), ("tier", "a\x00b"),
     ("tags", ["t"] * 1001), ("since", "2026-02-30"), ("since", "2026-03-08T10:00:00Z")],
)  # fmt: skip
def test_values_beyond_what_every_database_and_model_reads_the_same_are_refused(
    name: str, value: Any
) -> None:
    assert f"customer.attributes.{name}" in _problems({name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [("tenureMonths", 10**15), ("tenureMonths", -3), ("balance", 12), ("balance", -1e15),
     ("tier", "x" * 1000), ("since", "2026-03-08"), ("tags", []), ("tier", None)],
)  # fmt: skip
def test_values_within_the_bounds_are_accepted(name: str, value: Any) -> None:
    assert _problems({name: value}) == {}


def test_undeclared_and_personal_attributes_are_refused_where_the_ledger_would_keep_them() -> None:
    problems = _problems({"contact": "pat@example.com", "email": "pat@example.com"})
    assert "not in the customer schema" in problems["customer.attributes.contact"]
    assert "personal" in problems["customer.attributes.email"]
    # with the customer (stored with the personal data), a personal attribute is fine
    assert _problems({"email": "pat@example.com"}, personal=True) == {}
    assert "customer.attributes.email" in _problems({"email": 5}, personal=True)


def test_a_condition_cannot_read_a_personal_attribute() -> None:
    env = Environment(SCHEMA)
    env.compile("customer.age > 30")
    with pytest.raises(RuleError, match=r"'customer\.email' is a personal attribute"):
        env.compile('customer.email == "pat@example.com"')


def test_the_check_is_compiled_once_per_schema() -> None:
    assert SCHEMA.check is SCHEMA.check
