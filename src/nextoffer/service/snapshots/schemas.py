"""What a publish is asked for, the snapshot's item lists, and what publishing gives.

A snapshot's data is stored and built as plain JSON (``core.decision.SnapshotSpec``'s
fields). A publish, the publish log and the live snapshot's summary are JSON documents that
the API, the CLI and the dashboard read as they are, so they are typed dictionaries, built
once by the service in the order the API answers with.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "PLURALS",
    "AttachCount",
    "CatalogPublished",
    "DisabledRule",
    "LiveSnapshot",
    "PublishIn",
    "PublishRecord",
    "Published",
    "SnapshotData",
    "TookLive",
]

# the snapshot's item lists, with each item's id field
PLURALS = {"products": "sku", "offers": "id", "channels": "id", "policies": "id", "rules": "id"}

SnapshotData = dict[str, Any]
"""A snapshot as plain data (``core.decision.SnapshotSpec``'s fields): as it is stored, as
the scenarios give it, and as a publish builds it."""

TookLive = dict[str, Any]
"""What a publish took live: for a catalog publish the items added, changed and removed by
kind (``offers``: ``{"added": [...], ...}``) and the settings changed; for a rule change the
rule and its revision; for an attach-rate refresh the number of attach counts."""


# no docstring: pydantic would add it to the OpenAPI document
class PublishIn(BaseModel):  # the new snapshot's version (default: the next number, v<n>)
    model_config = ConfigDict(extra="forbid")

    version: (
        Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")] | None
    ) = None


class AttachCount(TypedDict):
    """How often an offer was accepted when shown, when nominated by ``rule`` on ``channel``
    (absent: any); a snapshot's ``attach`` (``core.decision.AttachEstimate``)."""

    offer: str
    shown: int
    accepted: int
    rule: NotRequired[str]
    channel: NotRequired[str]


class Published(TypedDict):
    """A snapshot stored: its version, when, its sizes, and the live rules it holds disabled
    (``needs_attention``, when any)."""

    version: str
    published_at: str
    offers: int
    rules: int
    needs_attention: NotRequired[list[str]]


class CatalogPublished(Published):
    """An approver's publish of the catalog, with what it took live."""

    took_live: TookLive


class PublishRecord(TypedDict):
    """A publish in the audit log: the version, who published it (key id and label), why
    (``catalog``, ``rule``, ``attach-refresh``), what it took live and when."""

    version: str
    actor: str
    actor_label: str
    cause: str | None
    took_live: TookLive | None
    occurred_at: str


class DisabledRule(TypedDict):
    """A rule the live snapshot holds disabled: published before a check that now refuses
    its trigger (it never fires)."""

    rule: str
    revision: int
    trigger: str
    state: Literal["disabled"]
    problems: list[str]


class LiveSnapshot(TypedDict):
    """The live snapshot: its version, sizes, channels, and the rules it holds disabled."""

    version: str
    offers: int
    rules: int
    channels: list[str]
    needs_attention: list[DisabledRule]
