"""The dashboard's navigation, declared once: the sections of the top bar, in order, each
with its label, its path under ``/dashboard``, the roles that see it and the pages (by
template name) that mark it as the current section. ``base.html`` renders the sections the
signed-in role may see, in a loop; a new section is one entry here."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import Forbidden
from ..keys.service import Role, require

__all__ = ["DASHBOARD_ROLES", "SECTIONS", "Section", "visible"]

# who may sign in to the dashboard at all (an admin always may; a client key never)
DASHBOARD_ROLES: tuple[Role, ...] = ("author", "approver")


@dataclass(frozen=True, slots=True)
class Section:
    """One entry of the top bar.

    ``path`` is under the dashboard's prefix (``""`` is the dashboard's home); ``roles`` are
    the roles that see the entry (an admin sees every entry, as ``require`` allows); a page
    whose template is named in ``pages`` (``rule.html`` is ``"rule"``) marks it current."""

    label: str
    path: str
    roles: tuple[Role, ...]
    pages: tuple[str, ...]

    def allows(self, role: Role) -> bool:
        """Whether a key with ``role`` sees this section (the same rule as ``require``)."""
        try:
            require(role, self.roles)
        except Forbidden:
            return False
        return True


SECTIONS: tuple[Section, ...] = (
    Section("Overview", "", DASHBOARD_ROLES, ("overview",)),
    Section("Proposals", "/proposals", DASHBOARD_ROLES, ("proposals", "proposal")),
    Section("Rules", "/rules", DASHBOARD_ROLES, ("rules", "rule", "editor")),
    Section("Catalog", "/catalog", DASHBOARD_ROLES, ("catalog", "item")),
    Section("Journeys", "/journeys", DASHBOARD_ROLES, ("journeys", "journey")),
    Section("Decisions", "/decisions", DASHBOARD_ROLES, ("decisions", "decision")),
    Section("Results", "/results", DASHBOARD_ROLES, ("results", "experiment")),
    Section("Strategies", "/strategies", DASHBOARD_ROLES, ("strategies", "strategy")),
    Section("Evaluate", "/evaluate", DASHBOARD_ROLES, ("evaluate",)),
)


def visible(role: Role) -> list[Section]:
    """The sections a key with ``role`` sees, in the order of ``SECTIONS``."""
    return [s for s in SECTIONS if s.allows(role)]
