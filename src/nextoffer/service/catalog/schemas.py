"""The catalog's kinds of item and the models each is stored as."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

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

__all__ = ["KINDS", "PLURAL", "SettingsSpec"]


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
