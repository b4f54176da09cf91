"""``nextoffer evaluate``: a draft, a stored version or the live snapshot against the
ledger's logged decisions; the table, JSON, charts and clear errors for bad input."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from nextoffer.scenarios.demo import demo_snapshot
from nextoffer.service.app import create_app
from nextoffer.service.config import Settings
from nextoffer.service.keys.service import create_key
from nextoffer.service.migrate import upgrade
from nextoffer.service.snapshots.loader import load_spec
from nextoffer.service.snapshots.service import publish
from tests.clock import NOW, iso

from .test_rules_cli import run

DECISIONS = 60


def _spec(**pos: Any) -> dict[str, Any]:
    data = demo_snapshot()
    for channel in data["channels"]:
        if channel["id"] == "pos":
            channel.update(pos)
    return data


def _checkout(i: int) -> dict[str, Any]:
    # at: the time the engine decides at, kept with the request (the replay's time)
    return {"customer": {"id": f"guest-{i}"}, "channel": "pos", "session_id": f"s-{i}", "at": iso(NOW),
            "store": {"id": "S1", "timezone": "America/New_York"},
            "cart": {"items": [{"sku": "STEAK-01", "category": "main_course", "quantity": 2,
                                "price": 1200.0}]}}  # fmt: skip


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder whose ledger holds the shop's epsilon-greedy decisions with their
    accepts and conversions (drawn from a seeded generator)."""
    where = tmp_path_factory.mktemp("evaluate")
    app = create_app(Settings(database_url=f"sqlite:///{where / 'nextoffer.db'}",
                              attach_refresh_seconds=0), clock=lambda: NOW)  # fmt: skip
    upgrade(app.state.db)
    with app.state.db.transaction() as session:
        load_spec(session, _spec(exploration={"kind": "epsilon_greedy", "epsilon": 0.3}))
        publish(session, "demo-1")
        key = create_key(session, "client", "cli test")
    rng = np.random.default_rng(5)

    async def record() -> None:
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://t",
                                     headers=headers) as client:  # fmt: skip
            events = []
            for i in range(DECISIONS):
                r = await client.post("/v1/decisions", json=_checkout(i))
                assert r.status_code == 200, r.text
                d = r.json()
                for p in d["placements"]:
                    for s in p["offers"]:
                        if rng.random() < 0.3:
                            events.append({"type": "accept", "customer_id": d["customer_id"],
                                           "decision_id": d["id"], "offer_id": s["offer"],
                                           "idempotency_key": f"a:{d['id']}:{s['offer']}"})  # fmt: skip
            r = await client.post("/v1/events", json={"events": events})
            assert r.status_code in (200, 201), r.text

    asyncio.run(record())
    app.state.db.dispose()
    return where


def test_a_draft_is_evaluated_with_a_table_and_charts(project: Path, tmp_path: Path) -> None:
    draft = tmp_path / "draft.yaml"
    draft.write_text(yaml.safe_dump(_spec(scoring={"strategy": "prie"})))
    result = run("evaluate", "--draft", draft, "--channel", "pos", "--charts", tmp_path / "c",
                 cwd=project)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "target strategy on pos: prie+greedy" in result.stdout
    assert f"decisions read {DECISIONS}, used {DECISIONS}" in result.stdout
    for name in ("ips", "snips", "dm", "dr", "switch_dr", "dros", "live strategy (observed)"):
        assert name in result.stdout
    assert "acceptance rate (accepted per offer shown)" in result.stdout
    for metric in ("acceptance", "revenue"):
        assert (tmp_path / "c" / f"evaluation-{metric}.png").stat().st_size > 1000


def test_the_stored_version_as_json_gives_the_observed_mean(project: Path) -> None:
    result = run("evaluate", "--snapshot", "demo-1", "--days", "30", "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    acceptance = answer["metrics"]["acceptance"]
    values = {e["estimator"]: e["value"] for e in acceptance["estimates"]}
    assert values["ips"] == acceptance["observed"]
    assert values["snips"] == acceptance["observed"]
    assert answer["target"] == {"kind": "snapshot", "version": "demo-1", "strategies": {
        "kiosk": "expected_value+greedy", "pos": "expected_value+epsilon_greedy(epsilon=0.3,floor=0)",
        **{c: answer["target"]["strategies"][c] for c in ("branch", "email", "in_app")}}}  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--snapshot", "v9", "--draft", "x.json"], "--draft and --snapshot: give one of them"),
        (["--snapshot", "no-such"], "--snapshot: no snapshot version 'no-such'"),
        (["--days", "0"], "--days: must be from 1 to 3650, got 0"),
        (["--channel", "fax"], "--channel: unknown channel 'fax'"),
        (["--draft", "missing.json"], "--draft: no such file"),
        (["--charts", "nextoffer.db/charts"], "--charts: cannot create 'nextoffer.db/charts'"),
    ],
)
def test_bad_input_is_a_clear_error(project: Path, args: list[str], message: str) -> None:
    result = run("evaluate", *args, cwd=project)
    assert result.returncode == 1
    assert message in " ".join(result.stderr.split()), result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_draft_names_the_field(project: Path, tmp_path: Path) -> None:
    spec = _spec()
    spec["channels"][0]["placements"] = []
    draft = tmp_path / "draft.json"
    draft.write_text(json.dumps(spec))
    result = run("evaluate", "--draft", draft, cwd=project)
    assert result.returncode == 1
    assert "--draft: channels." in result.stderr
    assert "placements" in result.stderr


def test_a_window_without_decisions_says_so(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'nextoffer.db'}"))
    upgrade(app.state.db)
    with app.state.db.transaction() as session:
        load_spec(session, _spec())
        publish(session, "demo-1")
    app.state.db.dispose()
    result = run("evaluate", "--channel", "pos", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no logged decisions on channel 'pos' in the last 30 days" in result.stdout
