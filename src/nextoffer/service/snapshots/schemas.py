"""What a publish is asked for, and the snapshot's item lists."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PLURALS", "PublishIn"]

# the snapshot's item lists, with each item's id field
PLURALS = {"products": "sku", "offers": "id", "channels": "id", "policies": "id", "rules": "id"}


# no docstring: pydantic would add it to the OpenAPI document
class PublishIn(BaseModel):  # the new snapshot's version (default: the next number, v<n>)
    model_config = ConfigDict(extra="forbid")

    version: (
        Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")] | None
    ) = None
