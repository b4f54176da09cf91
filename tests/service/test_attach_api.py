"""Attach rates from the ledger: recounted in the background, published, used by the engine."""

from __future__ import annotations

import time
from typing import Any

from nextoffer.service.db import Database
from nextoffer.service.snapshots.service import live_spec

from .server import Server

SERVER_ENV = {"NEXTOFFER_ATTACH_REFRESH_SECONDS": "1"}
CART = {"customer": {"id": "attach-guest"}, "channel": "pos", "session_id": "attach-s",
        "store": {"id": "S1", "timezone": "Europe/Madrid"},
        "cart": {"items": [{"sku": "STEAK-01", "category": "main_course", "price": 1200.0, "quantity": 1}]}}  # fmt: skip


def _rates(srv: Server, **params: Any) -> dict[str, Any]:
    with srv.client("author") as author:
        r = author.get("/v1/attach-rates", params=params)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


def _find(report: dict[str, Any], level: str, **key: str) -> dict[str, Any]:
    return next(r for r in report["rates"]
                if r["level"] == level and all(r[k] == v for k, v in key.items()))  # fmt: skip


def test_outcomes_in_the_ledger_become_the_engines_attach_rates(server: Server) -> None:
    before = _rates(server)
    wine = _find(before, "rule", rule="steak-red-wine", offer="RED-WINE-01")
    assert (wine["shown"], wine["accepted"]) == (200, 50)  # the scenario's history
    assert wine["maturity"] == "maturing"
    assert wine["low"] < wine["p"] < wine["high"]
    # 40 decisions at the POS; every wine pitch shown is accepted
    wines = 0  # decisions that showed RED-WINE-01
    with server.client("client") as client:
        for i in range(40):
            d = client.post("/v1/decisions", json={**CART, "session_id": f"attach-s-{i}"}).json()
            shown = [o for p in d["placements"] for o in p["offers"]]
            events = []
            for o in shown:
                common = {"offer_id": o["offer"], "decision_id": d["id"], "channel": "pos",
                          "customer_id": "attach-guest"}  # fmt: skip
                events.append(
                    {**common, "type": "impression", "idempotency_key": f"{d['id']}:{o['offer']}:i"}
                )
                if o["offer"] == "RED-WINE-01":
                    wines += 1
                    events.append(
                        {**common, "type": "accept", "idempotency_key": f"{d['id']}:{o['offer']}:a"}
                    )
            assert events, d
            assert client.post("/v1/events", json={"events": events}).status_code in (200, 201)
    # the background refresh (every second here) recounts and publishes; a worker swaps to
    # the new snapshot within its poll (so wait for all the counts, not for any new version:
    # a refresh may have run while the events were still coming)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        after = _rates(server)
        wine_after = _find(after, "rule", rule="steak-red-wine", offer="RED-WINE-01")
        if wine_after["shown"] >= 200 + wines > 200:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the new outcomes were not in the live rates within 20 s")
    assert after["snapshot_version"] != before["snapshot_version"]
    assert wine_after["accepted"] - 50 == wine_after["shown"] - 200  # all accepted
    assert wine_after["p"] > wine["p"]
    pos = _find(after, "channel", offer="RED-WINE-01", channel="pos")
    assert pos["accepted"] == pos["shown"] > 0
    # the engine scores with the new rate
    with server.client("client") as client:
        d = client.post("/v1/decisions", json={**CART, "session_id": "attach-after"}).json()
        p = {o["offer"]: o["p"] for pl in d["placements"] for o in pl["offers"]}
    assert abs(p["RED-WINE-01"] - wine_after["p"]) < 1e-9
    # nothing new: a refresh changes nothing and publishes nothing
    time.sleep(1.5)
    with server.client("author") as author:
        again = author.post("/v1/attach-rates/refresh")
        assert again.status_code == 200
        assert again.json()["changed"] is False
        assert again.json()["snapshot"] is None


def test_attach_rates_need_a_reviewers_key_and_a_sane_interval(server: Server) -> None:
    with server.client("client") as client:
        assert client.get("/v1/attach-rates").status_code == 403
    with server.client("author") as author:
        bad = author.get("/v1/attach-rates", params={"interval": 1.5})
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "interval"
    levels = {r["level"] for r in _rates(server, interval=0.5)["rates"]}
    assert levels >= {"global", "category", "offer", "rule"}


def test_the_background_refresher_publishes_new_counts_but_never_a_pending_catalog_edit(
    server: Server,
) -> None:
    def dessert_priority() -> Any:
        db = Database(server.database_url)
        try:
            with db.read() as session:
                spec = live_spec(session)
        finally:
            db.dispose()
        assert spec is not None
        return next(o for o in spec["offers"] if o["id"] == "DESSERT-01").get("priority")

    with server.client("author") as author:
        assert author.patch("/v1/catalog/offer/DESSERT-01", json={"priority": 3}).status_code == 200
        before = author.get("/v1/snapshots").json()[0]["version"]
    with server.client("client") as client:
        body = {**CART, "customer": {"id": "attach-pending"}, "session_id": "attach-pending"}
        d = client.post("/v1/decisions", json=body).json()
        events = [{"type": "impression", "offer_id": o["offer"], "decision_id": d["id"],
                   "channel": "pos", "customer_id": "attach-pending",
                   "idempotency_key": f"{d['id']}:{o['offer']}:i"}
                  for p in d["placements"] for o in p["offers"]]  # fmt: skip
        assert events
        assert client.post("/v1/events", json={"events": events}).status_code in (200, 201)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with server.client("author") as author:
            newest = author.get("/v1/snapshots").json()[0]
        if newest["version"] != before:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the refresher published nothing within 20 s")
    assert (newest["actor"], newest["cause"]) == ("attach-refresh", "attach-refresh")
    assert dessert_priority() != 3
    with server.client("approver") as approver:
        assert approver.post("/v1/catalog/publish", json={}).status_code == 201
    assert dessert_priority() == 3
