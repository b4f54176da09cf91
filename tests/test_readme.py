"""What the README shows is what the code does: its examples are read from the README itself."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from nextoffer.core.request import Request
from nextoffer.core.rules import CustomerSchema, Environment, build_context

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


# the two examples that do not match the README's example request (a steak cart of 2,400)
FALSE_FOR_THE_REQUEST = {
    "cart.count >= 2 and cart.total > 2400",
    'any item in cart.items: item.category == "wine" and item.price > 30',
}


def _block(after: str, language: str) -> str:
    """The first fenced block of ``language`` after the text ``after``."""
    found = re.search(rf"```{language}\n(.*?)```", README[README.index(after) :], re.DOTALL)
    assert found is not None, (after, language)
    return found.group(1)


def _rule_language() -> tuple[list[str], dict[str, Any], CustomerSchema]:
    section = "## The rule language"
    examples = _block(section, "text").strip().splitlines()
    request = json.loads(_block("A request (`--context`)", "json"))
    schema = CustomerSchema.model_validate(yaml.safe_load(_block("A schema file", "yaml")))
    return examples, request, schema


def test_the_readmes_rule_examples_check_against_its_schema_and_hold_for_its_request() -> None:
    """Every example names only what the README's schema declares (``customer.email`` did
    not) and, on the README's example request, matches."""
    examples, request, schema = _rule_language()
    env = Environment(customer=schema)
    ctx = build_context(Request.model_validate(request), schema)
    assert len(examples) == 10
    for text in examples:
        assert env.compile(text)(ctx) is (text not in FALSE_FOR_THE_REQUEST), text


def test_count_counts_cart_lines_not_units_as_the_readme_says() -> None:
    """Two steaks on one line count once; ``cart.count`` sums the quantities."""
    _examples, request, schema = _rule_language()
    env = Environment(customer=schema)
    ctx = build_context(Request.model_validate(request), schema)
    said = 'count(item in cart.items: item.category == "main_course") >= 2` is false'
    assert said in " ".join(README.split())
    assert (
        env.compile('count(item in cart.items: item.category == "main_course") >= 2')(ctx) is False
    )
    assert (
        env.compile('count(item in cart.items: item.category == "main_course") >= 1')(ctx) is True
    )
    assert env.compile("cart.count >= 2")(ctx) is True


def test_every_setting_and_serve_option_is_documented() -> None:
    """``snapshot_poll_seconds``, ``erase_every_seconds`` and ``serve --port`` were not."""
    from nextoffer.service.config import Settings

    for name in Settings.__dataclass_fields__:
        assert f"`{name}`" in README, name
    for option in ("--host", "--port", "--workers", "--log-format"):
        assert re.search(rf"nextoffer serve \[.*{option} ", README), option
