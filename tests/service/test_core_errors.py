"""Core errors have one root (``NextofferError``, a field and a message), mapped once at the
edge: one that no service maps with more context is a 422 naming its field over HTTP, and a
message with exit 1 on the command line, never a traceback or a 500 (issue 18)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from nextoffer.cli.main import _Nextoffer
from nextoffer.core.decision.result import DecisionError
from nextoffer.core.decision.snapshot import SnapshotError
from nextoffer.core.rules import Diagnostic
from nextoffer.service.app import create_app
from nextoffer.service.config import Settings


@pytest.mark.parametrize(
    ("error", "field", "message"),
    [
        (DecisionError("placements[0]", "unknown placement 'x'"), "placements[0]",
         "unknown placement 'x'"),
        (SnapshotError([Diagnostic("unknown name 'foo'", "offers[3].eligibility")]),
         "offers[3].eligibility", "unknown name 'foo'"),
        (DecisionError("", "nothing to decide"), "body", "nothing to decide"),
    ],
)  # fmt: skip
def test_a_core_error_no_service_maps_is_a_422_naming_its_field(
    tmp_path: Path, error: Exception, field: str, message: str
) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}"))

    def refuse() -> None:
        raise error

    app.add_api_route("/refuse", refuse)

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/refuse")

    r = asyncio.run(get())
    app.state.db.dispose()
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [{"field": field, "message": message}]


def test_a_core_error_no_command_maps_ends_the_command_with_a_message_and_exit_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli = _Nextoffer()

    @cli.command()
    def refuse() -> None:
        raise DecisionError("at", "must be a time")

    @cli.command()
    def other() -> None:  # two commands: the group dispatches by name
        pass

    with pytest.raises(SystemExit) as exit_:
        cli(["refuse"], standalone_mode=True)
    assert exit_.value.code == 1
    assert "error: at: must be a time" in capsys.readouterr().err
