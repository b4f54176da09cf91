"""A write is committed before the answer leaves: a client that got 201 can lose nothing,
even when the server dies the instant after answering (the SIGKILL benchmark's guarantee)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

from nextoffer.service.app import create_app
from nextoffer.service.config import Settings
from nextoffer.service.keys.service import create_key
from nextoffer.service.migrate import upgrade


def test_the_transaction_commits_before_the_response_starts(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'order.db'}",
                              attach_refresh_seconds=0))  # fmt: skip
    db = app.state.db
    upgrade(db)
    with db.transaction() as s:
        key = create_key(s, "client", "order test")
    order: list[str] = []
    event.listen(db.engine, "commit", lambda conn: order.append("commit"))

    async def watched(scope: Any, receive: Any, send: Any) -> None:
        async def watching(message: Any) -> None:
            if message["type"] == "http.response.start":
                order.append("response")
            await send(message)

        await app(scope, receive, watching)

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=watched)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/v1/events", headers={"Authorization": f"Bearer {key}"},
                                     json={"type": "convert", "customer_id": "c-1", "value": 1.0,
                                           "idempotency_key": "k-1"})  # fmt: skip

    order.clear()
    r = asyncio.run(post())
    db.dispose()
    assert r.status_code == 201, r.text
    assert "commit" in order
    assert order.index("commit") < order.index("response"), order
