"""Errors point at their place: line, column and caret for text, a JSON path for JSON."""

from __future__ import annotations

import pytest

from nextoffer.core.rules import (
    Environment,
    Limits,
    RuleLimitError,
    RuleSyntaxError,
    RuleTypeError,
)


def test_unknown_name_suggests_the_closest_and_points_at_it(env: Environment) -> None:
    with pytest.raises(RuleTypeError) as info:
        env.compile('customer.tier == "gold" and customer.tenureMonth >= 36')
    assert str(info.value) == (
        "line 1, column 29: unknown name 'customer.tenureMonth' "
        "(did you mean 'customer.tenureMonths'?)\n"
        '  customer.tier == "gold" and customer.tenureMonth >= 36\n'
        "                              ^^^^^^^^^^^^^^^^^^^^"
    )
    (diag,) = info.value.diagnostics
    assert (diag.line, diag.column, diag.path) == (1, 29, "$.operands[1].left")


def test_every_type_error_is_reported_not_only_the_first(env: Environment) -> None:
    with pytest.raises(RuleTypeError) as info:
        env.compile('cart.total > "x" and\n  customer.tier in "abc" and channel == 3')
    messages = [(d.line, d.column, d.message) for d in info.value.diagnostics]
    assert messages == [
        (1, 14, "'>' needs numbers or dates, not string"),
        (2, 20, "'in' needs a list on its right, not string (use 'contains' for text)"),
        (2, 30, "cannot compare string with int"),
    ]


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ('channel = "x"', "unexpected '=' (did you mean '=='?)", 9),
        ("cart.total >", "expected a value, found end of condition", 13),
        ("(cart.total > 1", "expected ')' to close '(', found end of condition", 16),
        ("cart.total > 1)", "unmatched ')'", 15),
        ("cart.total > 1 cart.count", "unexpected 'cart' after a complete condition", 16),
        ('channel == "open', "unterminated string", 12),
        (
            "local_time.hour between 6 or 11",
            "expected 'and' between the two bounds, found 'or'",
            27,
        ),
        ("any item cart.items: true", "expected 'in', found 'cart'", 10),
        ('channel in ["a", channel]', "a list holds constants only, found 'channel'", 18),
        (
            'local_time.date == date("2026-02-30")',
            "not a date: '2026-02-30' (expected YYYY-MM-DD)",
            25,
        ),
        ("", "empty condition", 1),
        ("cart.total > 1e999", "number is too large", 14),
        ("customer.tier && true", "unexpected '&' (did you mean 'and'?)", 15),
    ],
)
def test_syntax_error_message_and_place(
    env: Environment, text: str, message: str, column: int
) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        env.compile(text)
    (diag,) = info.value.diagnostics
    assert diag.message == message
    assert diag.column == column


def test_wrong_operand_types(env: Environment) -> None:
    cases = {
        "customer.hasCreditCard > 1": "'>' needs numbers or dates, not bool",
        '"x" between 1 and 2': "'between' needs numbers or dates, not string",
        "cart.count": "a condition must be true or false, but this is int",
        "not cart.total": "the operand of 'not' must be a condition (bool), not float",
        "cart.skus == cart.categories": "'==' compares single values, not list[string] and "
        "list[string] (use 'in' or 'contains')",
        "any item in customer.segments: true": "'any' ranges over cart.items, not list[string]",
        "cart.has_sku(1)": "cart.has_sku() needs a string argument, not int",
        'cart.has_skus("A")': "unknown function 'cart.has_skus' (did you mean 'cart.has_sku'?)",
        '["a", 1] contains "a"': "a list must hold one type, found int, string",
        "any channel in cart.items: true": "variable 'channel' hides another name; choose another",
        'offer.price > 3 and item.sku == "x"': "unknown name 'item.sku' (did you mean 'offer.sku'?)",
    }
    for text, message in cases.items():
        with pytest.raises(RuleTypeError) as info:
            env.compile(text)
        assert info.value.diagnostics[0].message == message, text


def test_offer_names_are_refused_in_triggers() -> None:
    with pytest.raises(RuleTypeError, match=r"'offer\.\*' names are only for offer conditions"):
        Environment(offer_names=False).compile("offer.price > 10")
    assert Environment().compile("offer.price > 10")({"offer.price": 12.0})


def test_json_errors_name_their_path(env: Environment) -> None:
    with pytest.raises(RuleTypeError) as info:
        env.compile(
            {
                "kind": "and",
                "operands": [
                    {"kind": "name", "path": "customer.hasCreditCard"},
                    {
                        "kind": "compare",
                        "op": ">",
                        "left": {"kind": "name", "path": "cart.totl"},
                        "right": {"kind": "literal", "value": 3},
                    },
                ],
            }
        )
    (diag,) = info.value.diagnostics
    assert diag.path == "$.operands[1].left"
    assert str(info.value) == (
        "$.operands[1].left: unknown name 'cart.totl' (did you mean 'cart.total'?)"
    )


def test_malformed_json_names_every_bad_field(env: Environment) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        env.load(
            {
                "kind": "and",
                "operands": [{"kind": "nam", "path": "x"}, {"kind": "compare", "op": "=~"}],
            }
        )
    found = {(d.path, d.message.split(";")[0]) for d in info.value.diagnostics}
    assert ("$.operands[0]", "unknown kind") in found
    assert ("$.operands[1].op", "Input should be '==', '!=', '<', '<=', '>' or '>='") in found
    assert ("$.operands[1].left", "Field required") in found


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not " * 40 + "true", "condition is nested deeper than 32 levels"),
        ("(" * 40 + "true" + ")" * 40, "condition is nested deeper than 32 levels"),
        (" or ".join(["true"] * 1200), "condition has more than 1000 nodes"),
        ("channel in [" + ", ".join(['"a"'] * 1001) + "]", "list has more than 1000 items"),
        ("true" + " " * 10_000, "condition text is longer than 10000 characters"),
    ],
)
def test_limits_on_text_give_a_clear_error(env: Environment, text: str, message: str) -> None:
    with pytest.raises(RuleLimitError) as info:
        env.compile(text)
    assert info.value.diagnostics[0].message == message


def test_limits_on_json_are_checked_before_validation() -> None:
    env = Environment(limits=Limits(max_depth=5, max_nodes=10, max_list_length=30))
    deep: dict[str, object] = {"kind": "literal", "value": True}
    for _ in range(10):
        deep = {"kind": "not", "operand": deep}
    with pytest.raises(RuleLimitError, match="nested deeper than 5"):
        env.load(deep)
    wide = {"kind": "or", "operands": [{"kind": "literal", "value": True}] * 11}
    with pytest.raises(RuleLimitError, match="more than 10 nodes"):
        env.load(wide)
    long_list = {"kind": "in", "element": {"kind": "name", "path": "channel"},
                 "container": {"kind": "list", "values": ["a", "b", "c", "d"]}}  # fmt: skip
    with pytest.raises(RuleLimitError, match=r"\$\.container\.values: list has more than 3"):
        Environment(limits=Limits(max_list_length=3)).load(long_list)


def test_a_very_deep_json_document_is_refused_without_recursion_error() -> None:
    deep: dict[str, object] = {"kind": "literal", "value": True}
    for _ in range(100_000):
        deep = {"kind": "not", "operand": deep}
    with pytest.raises(RuleLimitError):
        Environment().load(deep)
