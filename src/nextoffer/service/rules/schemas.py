"""The shapes rule governance takes: a proposal, a review and an approver's edits (the
API's request bodies; names are checked like the catalog's ids)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Edits", "ProposalIn", "ReviewIn", "RuleId"]

RuleId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class ProposalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule_id: RuleId | None = None
    trigger: str | dict[str, Any]
    offers: Annotated[list[RuleId], Field(min_length=1, max_length=50)]
    priority: Annotated[int, Field(ge=0, le=100)] = 50
    description: Annotated[str, Field(max_length=2000)] = ""
    stats: dict[str, Any] | None = None


class Edits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trigger: str | dict[str, Any] | None = None
    offers: Annotated[list[RuleId], Field(min_length=1, max_length=50)] | None = None
    priority: Annotated[int, Field(ge=0, le=100)] | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(max_length=2000)] = ""
    edits: Edits | None = None
