"""The catalog's kinds of item, the models each is validated with, and an item as stored.

An item is JSON whose shape its kind's model decides (``KINDS``): the service validates the
JSON it is given in one place, and stores and answers the model's dump of it as it is.
"""

from __future__ import annotations

from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from ...core.decision import (
    AttachEstimate,
    ChannelSpec,
    Guardrails,
    HoldoutSpec,
    OfferSpec,
    PolicySpec,
    ProductSpec,
    UpliftEstimate,
)
from ...core.rules import CustomerSchema, OfferSchema

__all__ = ["KINDS", "PLURAL", "CatalogItem", "SettingsSpec", "Written"]


class SettingsSpec(BaseModel):
    """Everything in a snapshot that is not a list of catalog items."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_schema: CustomerSchema = Field(default_factory=CustomerSchema)
    offer_schema: OfferSchema = Field(default_factory=OfferSchema)
    guardrails: Guardrails = Field(default_factory=Guardrails)
    holdout: HoldoutSpec | None = None
    attach_prior: float = Field(0.05, ge=0, le=1)
    attach_prior_strength: float = Field(20.0, gt=0, le=1e6)
    attach: tuple[AttachEstimate, ...] = ()
    uplift: tuple[UpliftEstimate, ...] = ()
    trace_sample_rate: float = Field(1.0, ge=0, le=1)


KINDS: dict[str, tuple[type[BaseModel], str]] = {
    # kind: (model, id field)
    "product": (ProductSpec, "sku"),
    "offer": (OfferSpec, "id"),
    "channel": (ChannelSpec, "id"),
    "policy": (PolicySpec, "id"),
    "settings": (SettingsSpec, ""),
}
# each kind of listed item: the snapshot's list of them
PLURAL = {"product": "products", "offer": "offers", "channel": "channels", "policy": "policies"}

CatalogItem = dict[str, JsonValue]
"""An item as stored and answered: its kind's model (``KINDS``) dumped as JSON without the
fields left at their defaults, its id field (``sku``, ``id``) holding its id."""


class Written(NamedTuple):
    """A write of an item: the item as stored, and whether it is new."""

    item: CatalogItem
    created: bool
