"""What the customers API takes: a customer, and a customer's personal data."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from ...core.request import Identifier

__all__ = ["CustomerIn", "PersonalDataIn"]


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
