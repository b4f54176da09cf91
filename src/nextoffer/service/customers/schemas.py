"""What the customers API takes (a customer, a customer's personal data) and gives (the
customer as stored, and when the personal data will be erased).

What it takes are Pydantic models (the API checks them); what it gives are typed
dictionaries, built once by the service in the order the API answers with.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from ...core.request import Identifier

__all__ = ["Customer", "CustomerIn", "PersonalDataIn", "PersonalDataKept", "Profile"]


# no docstrings on the models: pydantic would add them to the OpenAPI document
class CustomerIn(BaseModel):  # attributes (checked against the customer schema), holdings, segments
    model_config = ConfigDict(extra="forbid")

    attributes: dict[str, Any] = Field(default_factory=dict)
    holdings: Annotated[list[Identifier], Field(max_length=1_000)] = Field(default_factory=list)
    segments: Annotated[list[Identifier], Field(max_length=1_000)] = Field(default_factory=list)


class PersonalDataIn(BaseModel):  # kept apart from everything else, erased on schedule
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(max_length=500)] | None = None
    email: Annotated[str, Field(max_length=500, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    phone: Annotated[str, Field(max_length=100)] | None = None


class Profile(TypedDict):
    """What is known of a customer besides their id: attributes (only those kept with the
    customer, never personal ones), holdings and segments. A decision sees the stored
    profile merged with its request's, and keeps that with it (the uplift features)."""

    attributes: dict[str, Any]
    holdings: list[str]
    segments: list[str]


class Customer(Profile):
    """A customer as stored and answered: ``id``, then the profile."""

    id: str


class PersonalDataKept(TypedDict):
    """Personal data stored: whose, and when it will be erased (ISO 8601, UTC)."""

    customer_id: str
    erase_after: str
