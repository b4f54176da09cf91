"""What the dashboard's page modules share: the signed-in viewer as a dependency, the
annotations of ids and form text, the read session, the live snapshot, and the parsing of
the rule forms' fields. The CSRF guard and the security headers are applied to every page
by ``endpoints``; rendering is ``views.page`` and ``views.act``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Form, Path, Request

from ....core.decision import Snapshot
from ...errors import InvalidInput, NotFound
from ...keys.service import Principal
from ..views import viewer

__all__ = ["Id", "Text", "Viewer", "live", "offers_of", "priority_of", "read"]

Viewer = Annotated[Principal, Depends(viewer)]
Id = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Text = Annotated[str, Form(max_length=20_000)]


def read(request: Request) -> Any:
    """A read-only session of the service's database (a context manager)."""
    return request.app.state.db.read()


def live(request: Request) -> Snapshot | None:
    """The live snapshot, or None before the first publish."""
    try:
        snapshot: Snapshot = request.app.state.snapshots.get()
    except NotFound:
        return None
    return snapshot


def priority_of(text: str) -> int:
    """A rule form's priority, or ``InvalidInput`` on the ``priority`` field."""
    try:
        return int(text)
    except ValueError:
        raise InvalidInput.one("priority", f"expected a whole number, got {text!r}") from None


def offers_of(text: str) -> list[str]:
    """A rule form's offers: ids separated by commas or spaces."""
    return [o for o in text.replace(",", " ").split() if o]
