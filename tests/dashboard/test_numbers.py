"""What the dashboard's pages say, read from the real server's HTML: links, units, rates."""

from __future__ import annotations

from contextlib import closing

from ..service.server import Server
from .signin import signed_in


def test_an_anonymous_decision_links_to_no_customer_called_none(demo_server: Server) -> None:
    with demo_server.client("client") as api:
        made = api.post("/v1/decisions", json={"channel": "email"})
        assert made.status_code == 200, made.text
    client, _ = signed_in(demo_server.url, demo_server.keys["approver"])
    with closing(client):
        listing = client.get("/dashboard/decisions").text
        page = client.get(f"/dashboard/decisions/{made.json()['id']}").text
    assert made.json()["id"] in listing
    assert "anonymous" in listing
    assert "anonymous customer" in page
    for html in (listing, page):
        assert "customer=None" not in html
        assert ">None<" not in html


def test_an_experiments_lift_reads_in_percentage_points(demo_server: Server) -> None:
    with demo_server.client("approver") as api:
        experiment = api.get("/v1/experiments").json()[0]["experiment"]
        report = api.get(f"/v1/experiments/{experiment}/report").json()
    client, _ = signed_in(demo_server.url, demo_server.keys["approver"])
    with closing(client):
        html = client.get(f"/dashboard/experiments/{experiment}").text
    lift = report["overall"]["absolute_lift"]
    low, high = report["overall"]["lift_interval"]
    assert f"{100 * lift:.2f} pp ({100 * low:.2f} pp to {100 * high:.2f} pp)" in html
    assert f"{100 * lift:.2f}%" not in html  # a difference of two rates is not a percentage
    # the relative lift is a ratio, and stays a percentage
    assert f"{100 * report['overall']['relative_lift']:.1f}%" in html


def test_the_overviews_average_rate_is_over_the_chosen_window(demo_server: Server) -> None:
    client, _ = signed_in(demo_server.url, demo_server.keys["approver"])
    with closing(client):
        html = client.get("/dashboard?window=30d").text
    assert "decisions/s on average over the last 30d" in html
