"""The work a rule can do is bounded (issue 17): a costly trigger is refused when it is
written, and a cart longer than the limit the cost is computed for is a 422, on the real
server, on both databases."""

from __future__ import annotations

from typing import Any

from nextoffer.core.request import MAX_CART_ITEMS

from .server import Server

ISSUE = "count(a in cart.items: count(b in cart.items: a.price > b.price) > 0) >= 0"
COSTLY = (
    "'count' may take up to 752,002 steps on a cart of 500 items (the most a request may"
    " carry), more than the limit of 20,000; nested quantifiers multiply their work"
    " (line 1, column 1)"
)


def cart(lines: int) -> dict[str, Any]:
    items = [{"sku": f"SKU-{i}", "category": "misc", "price": 1.0 + i} for i in range(lines)]
    return {"customer": {"id": "cost-guest"}, "channel": "pos", "session_id": "cost-s",
            "store": {"id": "S1", "timezone": "America/New_York"}, "cart": {"items": items}}  # fmt: skip


def test_a_proposal_with_nested_quantifiers_over_the_cart_is_refused(server: Server) -> None:
    with server.client("author") as author:
        before = author.get("/v1/proposals").json()
        r = author.post("/v1/proposals", json={"trigger": ISSUE, "offers": ["DESSERT-01"]})
        assert r.status_code == 422, r.text
        assert r.json()["errors"] == [{"field": "trigger", "message": COSTLY}]
        assert author.get("/v1/proposals").json() == before


def test_an_approvers_edit_to_a_costly_trigger_is_refused(server: Server) -> None:
    with server.client("author") as author:
        r = author.post(
            "/v1/proposals", json={"trigger": "cart.count >= 7", "offers": ["DESSERT-01"]}
        )
        assert r.status_code == 201, r.text
        proposal = r.json()["id"]
    with server.client("approver") as approver:
        r = approver.post(f"/v1/proposals/{proposal}/approve", json={"edits": {"trigger": ISSUE}})
        assert r.status_code == 422, r.text
        assert r.json()["errors"] == [{"field": "edits.trigger", "message": COSTLY}]


def test_a_cart_over_the_limit_is_a_422_naming_cart_items(server: Server) -> None:
    with server.client("client") as client:
        r = client.post("/v1/decisions", json=cart(MAX_CART_ITEMS + 1))
        assert r.status_code == 422, r.text
        assert r.json()["errors"] == [
            {"field": "cart.items", "message": "a cart holds at most 500 items, not 501"}
        ]
        at_the_limit = client.post("/v1/decisions", json=cart(MAX_CART_ITEMS))
        assert at_the_limit.status_code == 200, at_the_limit.text
