"""Types of the rule language and the names a condition may use.

A ``CustomerSchema`` declares the customer's attributes and their types; an ``OfferSchema``
does the same for ``offer.*``. ``Scope`` turns them, with the fixed request names (``cart.*``,
``channel``, ``local_time.*``, …), into the table the type checker looks names up in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

from .attributes import AttributeCheck

__all__ = [
    "ATTRIBUTE_TYPES",
    "BOOL",
    "DATE",
    "FLOAT",
    "INT",
    "ITEM",
    "ITEMS",
    "STRING",
    "STRING_LIST",
    "AttributeType",
    "CustomerSchema",
    "Function",
    "OfferSchema",
    "Scope",
    "Type",
    "infer_attribute_type",
    "list_of",
]


@dataclass(frozen=True, slots=True)
class Type:
    """A type: ``string``, ``int``, ``float``, ``bool``, ``date``, ``list[T]``, ``items``, ``item``."""

    name: str
    elem: Type | None = None

    def __str__(self) -> str:
        return f"list[{self.elem}]" if self.name == "list" else self.name

    @property
    def is_number(self) -> bool:
        return self.name in ("int", "float")

    @property
    def is_list(self) -> bool:
        return self.name == "list"

    @property
    def is_ordered(self) -> bool:
        return self.name in ("int", "float", "date")

    def comparable_with(self, other: Type) -> bool:
        if self.is_number and other.is_number:
            return True
        if self.name == "any" or other.name == "any":
            return True
        return self.name == other.name and not self.is_list and self.name not in ("items", "item")


STRING = Type("string")
INT = Type("int")
FLOAT = Type("float")
BOOL = Type("bool")
DATE = Type("date")
ITEMS = Type("items")
ITEM = Type("item")
ANY = Type("any")  # the element type of an empty list


def list_of(elem: Type) -> Type:
    return Type("list", elem)


STRING_LIST = list_of(STRING)

AttributeType = Literal["string", "int", "float", "bool", "date", "list[string]"]
ATTRIBUTE_TYPES: dict[str, Type] = {
    "string": STRING,
    "int": INT,
    "float": FLOAT,
    "bool": BOOL,
    "date": DATE,
    "list[string]": STRING_LIST,
}


def infer_attribute_type(value: object) -> AttributeType | None:
    """The attribute type of a JSON value, or None when no attribute type fits it."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return "list[string]"
    return None


class CustomerSchema(BaseModel):
    """The declared customer attributes: ``{"attributes": {"tier": "string", ...}}``.

    An attribute declared ``{"type": "string", "personal": true}`` is *personal*: it is kept
    only with the customer's personal data (which erasure removes), never in the ledger, and
    no condition or model reads it (``personal`` holds those; ``attributes`` the others).
    The schema is written back in the form it is declared in.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    attributes: dict[str, AttributeType] = Field(default_factory=dict)
    personal: dict[str, AttributeType] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _split_personal(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or not isinstance(data.get("attributes"), Mapping):
            return data
        plain: dict[str, Any] = {}
        personal: dict[str, Any] = dict(data.get("personal") or {})
        for name, declared in data["attributes"].items():
            if isinstance(declared, Mapping):
                unknown = set(declared) - {"type", "personal"}
                if unknown or "type" not in declared:
                    raise ValueError(
                        f"attribute {name!r}: declare a type, or "
                        '{"type": ..., "personal": true|false}'
                    )
                if declared.get("personal") is True:
                    personal[name] = declared["type"]
                    continue
                if declared.get("personal", False) is not False:
                    raise ValueError(f"attribute {name!r}: 'personal' is true or false")
                declared = declared["type"]
            plain[name] = declared
        both = sorted(set(plain) & set(personal))
        if both:
            raise ValueError(f"declared both personal and not: {', '.join(both)}")
        return {**data, "attributes": plain, "personal": personal}

    @model_serializer(mode="plain")
    def _declared(self) -> dict[str, Any]:
        declared: dict[str, Any] = dict(self.attributes)
        for name, kind in self.personal.items():
            declared[name] = {"type": kind, "personal": True}
        return {"attributes": declared}

    @cached_property
    def check(self) -> AttributeCheck:
        """The compiled check of attributes against this schema (built once per schema)."""
        return AttributeCheck(self.attributes, self.personal)

    @classmethod
    def infer(cls, attributes: Mapping[str, object]) -> CustomerSchema:
        """A schema whose types are taken from example values (for ``rules eval`` without one)."""
        declared: dict[str, AttributeType] = {}
        for name, value in attributes.items():
            kind = infer_attribute_type(value)
            if kind is not None:
                declared[name] = kind
        return cls(attributes=declared)


OFFER_BUILTINS: dict[str, AttributeType] = {
    "id": "string",
    "sku": "string",
    "category": "string",
    "price": "float",
    "cost": "float",
    "value": "float",
    "priority": "int",
    "emphasis": "float",
    "tags": "list[string]",
}


class OfferSchema(BaseModel):
    """Extra attributes of offers, beyond the built-in ones (id, sku, category, price, ...)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attributes: dict[str, AttributeType] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Function:
    """A built-in function: its parameter types and result type."""

    name: str
    params: tuple[Type, ...]
    result: Type


FUNCTIONS: dict[str, Function] = {
    "cart.has_sku": Function("cart.has_sku", (STRING,), BOOL),
    "cart.has_category": Function("cart.has_category", (STRING,), BOOL),
}

REQUEST_NAMES: dict[str, Type] = {
    "customer.id": STRING,
    "customer.segments": STRING_LIST,
    "customer.holdings": STRING_LIST,
    "cart.items": ITEMS,
    "cart.total": FLOAT,
    "cart.count": INT,
    "cart.skus": STRING_LIST,
    "cart.categories": STRING_LIST,
    "cart.distinct_skus": INT,
    "cart.distinct_categories": INT,
    "channel": STRING,
    "placement": STRING,
    "store.id": STRING,
    "store.timezone": STRING,
    "session_id": STRING,
    "local_time.hour": INT,
    "local_time.minute": INT,
    "local_time.weekday": STRING,
    "local_time.date": DATE,
}

ITEM_FIELDS: dict[str, Type] = {
    "sku": STRING,
    "category": STRING,
    "quantity": INT,
    "price": FLOAT,
}


@dataclass(frozen=True)
class Scope:
    """Every name a condition may use, with its type.

    ``offer_names`` controls whether ``offer.*`` is visible: it is, in an offer's
    eligibility, fit and match conditions, and not in a rule's trigger.

    ``extra`` adds names that only some conditions see, with their types: a journey's branch
    and exit conditions read ``journey.*`` (``core.journeys.names``). An extra name may not
    be one the scope already has (``ValueError``), so it never changes what another name
    means; the context the condition is evaluated on must hold its values.
    """

    customer: CustomerSchema = field(default_factory=CustomerSchema)
    offer: OfferSchema = field(default_factory=OfferSchema)
    offer_names: bool = True
    extra: Mapping[str, Type] = field(default_factory=dict)
    names: dict[str, Type] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = dict(REQUEST_NAMES)
        for attr, kind in self.customer.attributes.items():
            names.setdefault(f"customer.{attr}", ATTRIBUTE_TYPES[kind])
        if self.offer_names:
            for attr, kind in {**OFFER_BUILTINS, **self.offer.attributes}.items():
                names[f"offer.{attr}"] = ATTRIBUTE_TYPES[kind]
        taken = sorted(set(self.extra) & set(names))
        if taken:
            raise ValueError(f"extra names the scope already has: {', '.join(taken)}")
        names.update(self.extra)
        object.__setattr__(self, "names", names)

    def lookup(self, path: str) -> Type | None:
        return self.names.get(path)

    def function(self, name: str) -> Function | None:
        return FUNCTIONS.get(name)

    def known_functions(self) -> list[str]:
        return sorted(FUNCTIONS)

    @staticmethod
    def item_field(name: str) -> Type | None:
        return ITEM_FIELDS.get(name)

    @staticmethod
    def item_fields() -> list[str]:
        return sorted(ITEM_FIELDS)
