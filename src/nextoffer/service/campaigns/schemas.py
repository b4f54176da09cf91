"""What the campaigns API takes and gives: a campaign to run, and what the run did with
its send list."""

from __future__ import annotations

from typing import Annotated, TypedDict

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MAX_API_CUSTOMERS", "NAME_PATTERN", "CampaignIn", "CampaignRun", "Send"]

# a campaign's name is part of each of its decisions' idempotency keys
# (``campaign:<name>:<customer>``, at most 240 characters with a 200-character customer id)
NAME_PATTERN = r"^[A-Za-z0-9_.\-]+$"
# customers one HTTP request may decide (larger campaigns: ``nextoffer campaign run``)
MAX_API_CUSTOMERS = 10_000

CustomerId = Annotated[str, Field(min_length=1, max_length=200)]


# no docstrings on the models: pydantic would add them to the OpenAPI document
class CampaignIn(BaseModel):  # customers (a list) or segment (a condition), not both
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=30, pattern=NAME_PATTERN)]
    channel: Annotated[str, Field(min_length=1, max_length=200)]
    placements: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=50)
    ] = Field(default_factory=list)
    customers: Annotated[list[CustomerId], Field(max_length=MAX_API_CUSTOMERS)] | None = None
    segment: Annotated[str, Field(min_length=1, max_length=10_000)] | None = None


class Send(TypedDict):
    """One customer of a campaign: their decision, and what to send them per placement (a
    control-group customer is marked and sent nothing)."""

    customer_id: str
    decision_id: str
    control: bool
    send: bool
    offers: dict[str, list[str]]


class CampaignRun(TypedDict):
    """What a run did: the customers it covered, how many it decided now and how many an
    earlier run had decided already (a resumed campaign), the control group's size, and
    the send list (every customer, in order)."""

    name: str
    channel: str
    customers: int
    decided: int
    already_decided: int
    control: int
    sends: list[Send]
