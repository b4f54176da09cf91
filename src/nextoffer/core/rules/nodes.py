"""The rule language's one AST, as Pydantic v2 models.

Every condition, whether written as text (``customer.tier in ["premium", "gold"]``) or as
JSON, is a tree of these nodes. The JSON form is a discriminated union on ``kind``::

    {"kind": "in",
     "element": {"kind": "name", "path": "customer.tier"},
     "container": {"kind": "list", "values": ["premium", "gold"]}}

Nodes are immutable; two trees are equal when they have the same shape and values.
``condition_json_schema()`` exports the JSON Schema for editors and the dashboard.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, field_validator

__all__ = [
    "KEYWORDS",
    "KINDS",
    "Between",
    "Call",
    "Compare",
    "CompareOp",
    "Condition",
    "Constant",
    "Contains",
    "Count",
    "DateLiteral",
    "Exists",
    "In",
    "ListLiteral",
    "Logic",
    "Name",
    "Node",
    "Not",
    "Quantifier",
    "Scalar",
    "StartsWith",
    "condition_adapter",
    "condition_json_schema",
]

KEYWORDS: frozenset[str] = frozenset(
    {"and", "or", "not", "in", "between", "exists", "is", "missing", "contains", "starts_with"}
    | {"any", "all", "count", "true", "false"}
)
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def _not_keyword(value: str) -> str:
    head = value.split(".", 1)[0]
    if head in KEYWORDS:
        raise ValueError(f"{head!r} is a keyword and cannot start a name")
    return value


Identifier = Annotated[str, Field(pattern=rf"^{_IDENT}$"), AfterValidator(_not_keyword)]
DottedName = Annotated[
    str, Field(pattern=rf"^{_IDENT}(\.{_IDENT})*$"), AfterValidator(_not_keyword)
]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Scalar: TypeAlias = bool | int | FiniteFloat | str
CompareOp: TypeAlias = Literal["==", "!=", "<", "<=", ">", ">="]


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Constant(Node):
    """A constant: string, integer, number or boolean."""

    kind: Literal["literal"] = "literal"
    value: Scalar


class ListLiteral(Node):
    """A list of constants, for ``in``: ``["premium", "gold"]``."""

    kind: Literal["list"] = "list"
    values: tuple[Scalar, ...]


class DateLiteral(Node):
    """A calendar date: ``date("2026-03-08")``."""

    kind: Literal["date"] = "date"
    value: dt.date


class Name(Node):
    """A dotted name: ``customer.tier``, ``cart.total``, ``local_time.hour``, ``item.price``."""

    kind: Literal["name"] = "name"
    path: DottedName


class Call(Node):
    """A function call: ``cart.has_sku("STEAK-01")``, ``cart.has_category("main_course")``."""

    kind: Literal["call"] = "call"
    function: DottedName
    args: tuple[Condition, ...] = ()

    @field_validator("function")
    @classmethod
    def _not_date(cls, value: str) -> str:
        if value == "date":
            raise ValueError("date(...) is written as a date literal: {'kind': 'date', ...}")
        return value


class Count(Node):
    """How many items satisfy a condition: ``count(item in cart.items: item.price > 30)``."""

    kind: Literal["count"] = "count"
    var: Identifier
    collection: Name
    condition: Condition


class Compare(Node):
    """``left op right`` with op one of ``== != < <= > >=``."""

    kind: Literal["compare"] = "compare"
    op: CompareOp
    left: Condition
    right: Condition


class In(Node):
    """``element in container``: membership in a list."""

    kind: Literal["in"] = "in"
    element: Condition
    container: Condition


class Between(Node):
    """``value between low and high``, both ends included."""

    kind: Literal["between"] = "between"
    value: Condition
    low: Condition
    high: Condition


class Contains(Node):
    """``subject contains value``: a substring of a string, or a member of a list."""

    kind: Literal["contains"] = "contains"
    subject: Condition
    value: Condition


class StartsWith(Node):
    """``subject starts_with value`` for strings."""

    kind: Literal["starts_with"] = "starts_with"
    subject: Condition
    value: Condition


class Exists(Node):
    """``subject exists``: the value is present. ``subject is missing`` is ``not (subject exists)``."""

    kind: Literal["exists"] = "exists"
    subject: Name


class Logic(Node):
    """``a and b and …`` or ``a or b or …`` (two or more operands)."""

    kind: Literal["and", "or"]
    operands: tuple[Condition, ...] = Field(min_length=2)


class Not(Node):
    """``not operand``."""

    kind: Literal["not"] = "not"
    operand: Condition


class Quantifier(Node):
    """``any item in cart.items: condition`` or ``all item in cart.items: condition``."""

    kind: Literal["any", "all"]
    var: Identifier
    collection: Name
    condition: Condition


Condition: TypeAlias = Annotated[
    Constant
    | ListLiteral
    | DateLiteral
    | Name
    | Call
    | Count
    | Compare
    | In
    | Between
    | Contains
    | StartsWith
    | Exists
    | Logic
    | Not
    | Quantifier,
    Field(discriminator="kind"),
]

for _model in (Call, Count, Compare, In, Between, Contains, StartsWith, Logic, Not, Quantifier):
    _model.model_rebuild()

KINDS: frozenset[str] = frozenset(
    {"literal", "list", "date", "name", "call", "count", "compare", "in", "between"}
    | {"contains", "starts_with", "exists", "and", "or", "not", "any", "all"}
)

condition_adapter: TypeAdapter[Condition] = TypeAdapter(Condition)


def condition_json_schema() -> dict[str, Any]:
    """The JSON Schema of the condition AST (draft 2020-12), for editors and the dashboard."""
    schema = condition_adapter.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "nextoffer condition"
    return schema
