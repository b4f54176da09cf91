"""Loading a snapshot's plain data (a scenario) into the store: its items into the catalog,
its rules as live revision 1 of each. It sits above the catalog and the rules domains."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..catalog.schemas import KINDS, PLURAL, SettingsSpec
from ..catalog.service import put_item
from ..rules.service import seed_rule
from .schemas import SnapshotData

__all__ = ["load_spec"]


def load_spec(session: Session, data: SnapshotData, actor: str = "loader") -> None:
    """Put every item of a snapshot's plain data (as the scenarios provide it); its rules
    become live revision 1 of each rule (recorded in the audit log). Nothing is published."""
    settings = {k: v for k, v in data.items() if k in SettingsSpec.model_fields}
    put_item(session, "settings", "default", settings)
    for kind, plural in PLURAL.items():
        id_field = KINDS[kind][1]
        for item in data.get(plural, ()):
            put_item(session, kind, item[id_field], item)
    for rule in data.get("rules", ()):
        seed_rule(session, actor, rule)
