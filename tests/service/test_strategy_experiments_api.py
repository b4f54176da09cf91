"""Strategy experiments over HTTP, on both databases: definitions refused naming the field,
four eyes on start and promotion, the split on the decision path (the control group
outside every arm, the same customer in the same arm, each arm's strategy used), the
report against a hand count, and decisions while an experiment starts."""

from __future__ import annotations

import copy
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from nextoffer.core.decision import StrategyExperimentSpec, arm_of, assignment
from nextoffer.scenarios.demo import WORKED_EXAMPLE
from nextoffer.service.db import Database
from nextoffer.service.keys.service import create_key

from .server import Server

HOLDOUT = ("bank-cross-sell-2026", 0.10)  # the demo's holdout covers email, in_app, branch
CHAMPION_FIRST, CHALLENGER_FIRST = "credit-card", "savings-account"
# the demo's PRIE weights on the bank's channels, without the uplift weight: the worked
# example's savings (raw propensity high, τ negative) then ranks above the credit card
NO_UPLIFT = {"strategy": "prie", "weights": {"propensity": 0.4, "relevance": 0.1, "impact": 0.3,
                                             "emphasis": 0.2, "uplift": 0.0}}  # fmt: skip


def definition(experiment: str, channel: str, champion: float = 0.5) -> dict[str, Any]:
    return {
        "id": experiment,
        "channels": [channel],
        "arms": [
            {"name": "champion", "share": champion, "snapshot": "live"},
            {"name": "no-uplift", "share": round(1 - champion, 6),
             "strategy": {"scoring": copy.deepcopy(NO_UPLIFT)}},
        ],
    }  # fmt: skip


def in_control(customer: str) -> bool:
    return assignment(HOLDOUT[0], customer) < HOLDOUT[1]


def expected_arm(spec: dict[str, Any], customer: str, holdout: bool = True) -> str | None:
    if holdout and in_control(customer):
        return None
    return arm_of(StrategyExperimentSpec.model_validate(spec), customer).name


def ask(client: httpx.Client, customer: str | None, channel: str) -> dict[str, Any]:
    body: dict[str, Any] = {"channel": channel}
    if customer is not None:
        body["customer"] = {"id": customer, **{k: WORKED_EXAMPLE[k] for k in ("attributes", "holdings")}}  # fmt: skip
    r = client.post("/v1/decisions", json=body)
    assert r.status_code == 200, r.text
    decided: dict[str, Any] = r.json()
    return decided


@pytest.fixture(scope="module")
def second_approver(server: Server) -> str:
    db = Database(server.database_url)
    with db.transaction() as session:
        key = create_key(session, "approver", "second approver")
    db.dispose()
    return key


@pytest.fixture
def other(server: Server, second_approver: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {second_approver}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        yield client


def start(server: Server, other: httpx.Client, spec: dict[str, Any]) -> None:
    with server.client("author") as author:
        r = author.post("/v1/strategy-experiments", json={"definition": spec, "reason": "test"})
        assert r.status_code == 201, r.text
    r = other.post(f"/v1/strategy-experiments/{spec['id']}/start", json={"reason": "go"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "running"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda d: d["arms"][0].update(share=0.6), "arms", "shares must sum to 1, got 1.1"),
        (lambda d: d["arms"].pop(), "arms", "at least 2 items"),
        (lambda d: d.update(channels=["fax"]), "channels.0", "unknown channel 'fax'"),
        (lambda d: d["arms"][1]["strategy"]["scoring"]["weights"].update(propensity=0.9),
         "arms.1.strategy.scoring.weights", "must sum to 1"),
        (lambda d: d["arms"][1]["strategy"].update(exploration={"kind": "epsilon_greedy"}),
         "arms.1.strategy.exploration.epsilon", "epsilon_greedy needs 'epsilon'"),
        (lambda d: d["arms"][0].update(snapshot="v-none"), "arms.0.snapshot",
         "no stored snapshot 'v-none'"),
        (lambda d: d["arms"][1].update(snapshot="live"), "arms.1", "not both"),
        (lambda d: d["arms"][1].update(name="champion"), "arms", "arm names must be unique"),
        (lambda d: d.update(id="bad id"), "id", "String should match pattern"),
    ],
)  # fmt: skip
def test_a_bad_definition_is_refused_naming_the_field(
    server: Server, change: Any, field: str, message: str
) -> None:
    spec = definition("refused", "email")
    change(spec)
    with server.client("author") as author:
        r = author.post("/v1/strategy-experiments", json={"definition": spec})
        assert r.status_code == 422, r.text
        errors = {e["field"]: e["message"] for e in r.json()["errors"]}
        assert field in errors, errors
        assert message in errors[field]
        assert author.get("/v1/strategy-experiments/refused").status_code == 404


def test_start_needs_an_approver_who_did_not_propose_it(
    server: Server, other: httpx.Client
) -> None:
    spec = definition("four-eyes-start", "in_app")
    with server.client("approver") as approver:
        r = approver.post("/v1/strategy-experiments", json={"definition": spec})
        assert r.status_code == 201, r.text
        refused = approver.post("/v1/strategy-experiments/four-eyes-start/start")
        assert refused.status_code == 403
        assert "four eyes" in refused.json()["detail"]
    with server.client("author") as author:
        assert author.post("/v1/strategy-experiments/four-eyes-start/start").status_code == 403
        assert author.get("/v1/strategy-experiments/four-eyes-start").json()["status"] == "proposed"
    started = other.post("/v1/strategy-experiments/four-eyes-start/start", json={"reason": "ok"})
    assert started.status_code == 200, started.text
    assert started.json()["started_by"] != started.json()["proposer"]
    # one experiment per channel
    with server.client("author") as author:
        clash = definition("four-eyes-clash", "in_app")
        assert (
            author.post("/v1/strategy-experiments", json={"definition": clash}).status_code == 201
        )
    r = other.post("/v1/strategy-experiments/four-eyes-clash/start")
    assert r.status_code == 409
    assert "four-eyes-start" in r.json()["detail"]
    stopped = other.post("/v1/strategy-experiments/four-eyes-start/stop", json={"reason": "done"})
    assert stopped.status_code == 200
    assert stopped.json()["status"] == "stopped"
    assert other.post("/v1/strategy-experiments/four-eyes-start/stop").status_code == 409


def test_customers_are_split_by_share_and_each_arm_decides_with_its_strategy(
    server: Server, other: httpx.Client
) -> None:
    spec = definition("split-email", "email", champion=0.7)
    start(server, other, spec)
    customers = [f"split-{i}" for i in range(300)]
    arms: Counter[str | None] = Counter()
    with server.client("client") as client:
        live = client.get("/v1/snapshots/live").json()["version"]
        for customer in customers:
            decided = ask(client, customer, "email")
            arm = expected_arm(spec, customer)
            arms[arm] += 1
            if arm is None:  # the control group: decided first, outside every arm
                assert decided["control"] is True
                assert "arm" not in decided
                continue
            assert decided["control"] is False
            assert decided["arm"] == {"experiment": "split-email", "name": arm}
            first = decided["placements"][0]["offers"][0]["offer"]
            assert first == (CHAMPION_FIRST if arm == "champion" else CHALLENGER_FIRST)
            if arm == "no-uplift":  # the arm's strategy, on the live snapshot
                assert decided["snapshot_version"] == live
        # the same request, the same arm, always
        for customer in customers[:40]:
            again = ask(client, customer, "email")
            assert again.get("arm", {}).get("name") == expected_arm(spec, customer)
        # a customer with no id cannot be split: the champion (the live snapshot), no arm
        anonymous = ask(client, None, "email")
        assert "arm" not in anonymous
        assert anonymous["snapshot_version"] == live
        assert anonymous["customer_id"] is None
        # another channel: no experiment runs there
        assert "arm" not in ask(client, customers[0], "in_app")
    treated = arms["champion"] + arms["no-uplift"]
    assert arms[None] > 0
    assert treated > 200
    assert abs(arms["champion"] / treated - 0.7) < 0.1  # 300 customers: within ~2 s.e.
    with server.client("approver") as approver:  # stopped: everyone back on the live snapshot
        assert approver.post("/v1/strategy-experiments/split-email/stop").status_code == 200
    with server.client("client") as client:
        # a new customer of the challenger's range (no contacts yet for the policies to count)
        fresh = (f"split-after-{i}" for i in range(100))
        challenger = next(c for c in fresh if expected_arm(spec, c) == "no-uplift")
        after = ask(client, challenger, "email")
        assert "arm" not in after
        assert after["placements"][0]["offers"][0]["offer"] == CHAMPION_FIRST


def test_a_snapshot_arm_decides_with_the_stored_version_and_the_live_holdout(
    server: Server, other: httpx.Client
) -> None:
    spec = {"id": "stored-email", "channels": ["email"],
            "arms": [{"name": "champion", "share": 0.5, "snapshot": "live"},
                     {"name": "first-publish", "share": 0.5, "snapshot": "demo-1"}]}  # fmt: skip
    start(server, other, spec)
    with server.client("client") as client:
        live = client.get("/v1/snapshots/live").json()["version"]
        assert live != "demo-1"
        seen: Counter[str | None] = Counter()
        for i in range(60):
            customer = f"stored-{i}"
            decided = ask(client, customer, "email")
            arm = expected_arm(spec, customer)
            seen[arm] += 1
            assert decided["control"] is (arm is None)
            assert decided.get("arm", {}).get("name") == arm
            want = "demo-1" if arm == "first-publish" else live
            assert decided["snapshot_version"] == want
    assert all(seen[a] > 0 for a in ("champion", "first-publish"))
    with server.client("approver") as approver:
        assert approver.post("/v1/strategy-experiments/stored-email/stop").status_code == 200


def test_the_report_counts_what_a_hand_count_counts(server: Server, other: httpx.Client) -> None:
    spec = definition("report-branch", "branch")
    start(server, other, spec)
    decisions: dict[str, list[tuple[str, str]]] = {}  # arm (or control) -> (customer, decision)
    with server.client("client") as client:
        for i in range(60):
            customer = f"report-{i}"
            decided = ask(client, customer, "branch")
            group = decided.get("arm", {}).get("name") or ("control" if decided["control"] else "?")
            decisions.setdefault(group, []).append((customer, decided["id"]))
            if i % 3 == 0:  # a second decision for some: customers count once
                again = ask(client, customer, "branch")
                decisions[group].append((customer, again["id"]))
        assert "?" not in decisions
        assert {"champion", "no-uplift", "control"} <= set(decisions)
        # outcomes: every second customer of each group accepts its first decision's first
        # offer; every fourth converts (value 100 + i) on its last decision
        expected: dict[str, dict[str, float]] = {}
        for group, rows in decisions.items():
            firsts = list(dict.fromkeys(c for c, _ in rows))
            accepted = converted = 0
            revenue = 0.0
            for n, customer in enumerate(firsts):
                mine = [d for c, d in rows if c == customer]
                stored = client.get(f"/v1/decisions/{mine[0]}").json()
                placements = stored["counterfactual"] if stored["control"] else stored["placements"]
                offer = placements[0]["offers"][0]["offer"]
                if n % 2 == 0 and group != "control":
                    event = {"type": "accept", "customer_id": customer, "offer_id": offer,
                             "channel": "branch", "decision_id": mine[0]}  # fmt: skip
                    r = client.post(
                        "/v1/events", json=event, headers={"Idempotency-Key": f"a-{mine[0]}"}
                    )
                    assert r.status_code == 201, r.text
                    accepted += 1
                if n % 4 == 0:
                    value = 100.0 + n
                    event = {"type": "convert", "customer_id": customer, "offer_id": offer,
                             "channel": "branch", "decision_id": mine[0], "value": value}  # fmt: skip
                    r = client.post(
                        "/v1/events", json=event, headers={"Idempotency-Key": f"c-{mine[0]}"}
                    )
                    assert r.status_code == 201, r.text
                    converted += 1
                    revenue += value
            expected[group] = {"decisions": len(rows), "customers": len(firsts),
                               "accepted": accepted, "converted": converted, "revenue": revenue}  # fmt: skip
    with server.client("author") as author:
        r = author.get("/v1/strategy-experiments/report-branch/report", params={"min_per_arm": 20})
        assert r.status_code == 200, r.text
        report = r.json()
    assert report["champion"] == "champion"
    got = {a["arm"]: a for a in report["arms"]}
    assert report["control"] is not None
    got["control"] = report["control"]
    for group, want in expected.items():
        arm = got[group]
        for k, v in want.items():
            assert arm[k] == pytest.approx(v), (group, k)
        assert arm["conversion"] == pytest.approx(want["converted"] / want["customers"])
        assert arm["revenue_per_decision"] == pytest.approx(want["revenue"] / want["decisions"])
        low, high = arm["conversion_interval"]
        assert low <= arm["conversion"] <= high
        assert arm["insufficient_data"] == (want["customers"] < 20)
    challenger = got["no-uplift"]
    assert (
        challenger["against_champion"]["treatment"]["customers"]
        == expected["no-uplift"]["customers"]
    )
    assert (
        challenger["against_champion"]["control"]["customers"] == expected["champion"]["customers"]
    )
    assert (
        challenger["against_control"]["control"]["conversions"] == expected["control"]["converted"]
    )
    assert got["champion"]["against_champion"] is None
    with server.client("approver") as approver:
        assert approver.post("/v1/strategy-experiments/report-branch/stop").status_code == 200


def test_promotion_is_an_approvers_four_eyes_action_that_publishes_the_arms_strategy(
    server: Server, other: httpx.Client
) -> None:
    spec = definition("promote-in-app", "in_app")
    with server.client("approver") as approver:  # proposed by this approver
        r = approver.post("/v1/strategy-experiments", json={"definition": spec})
        assert r.status_code == 201, r.text
    assert other.post("/v1/strategy-experiments/promote-in-app/start").status_code == 200
    with server.client("approver") as approver:
        body = {"arm": "no-uplift", "reason": "it won"}
        refused = approver.post("/v1/strategy-experiments/promote-in-app/promote", json=body)
        assert refused.status_code == 403
        assert "four eyes" in refused.json()["detail"]
        before = approver.get("/v1/snapshots").json()[0]["version"]
    with server.client("author") as author:
        body = {"arm": "no-uplift", "reason": "it won"}
        assert (
            author.post("/v1/strategy-experiments/promote-in-app/promote", json=body).status_code
            == 403
        )
    unknown = other.post("/v1/strategy-experiments/promote-in-app/promote",
                         json={"arm": "nope", "reason": "?"})  # fmt: skip
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "arm"
    done = other.post("/v1/strategy-experiments/promote-in-app/promote",
                      json={"arm": "no-uplift", "reason": "it won"})  # fmt: skip
    assert done.status_code == 200, done.text
    promoted = done.json()
    assert promoted["status"] == "promoted"
    assert promoted["promoted_arm"] == "no-uplift"
    assert promoted["promoted_version"] != before
    assert "promoted no-uplift: it won" in promoted["stop_reason"]
    assert promoted["promotion_reason"] == "it won"
    assert promoted["promoted_by"] == promoted["started_by"]  # the second approver
    assert promoted["promoted_by"] != promoted["proposer"]
    assert promoted["promoted_at"] >= promoted["started_at"]
    with server.client("approver") as approver:
        publishes = approver.get("/v1/snapshots").json()
        assert publishes[0]["version"] == promoted["promoted_version"]
        assert publishes[0]["actor"] != promoted["proposer"]
        assert publishes[0]["cause"] == "strategy-experiment promote-in-app: arm no-uplift"
        again = other.post("/v1/strategy-experiments/promote-in-app/promote",
                           json={"arm": "champion", "reason": "twice"})  # fmt: skip
        assert again.status_code == 409
    with server.client("client") as client:  # everyone on in_app now ranks as the arm did
        for customer in ("after-1", "after-2", "after-3"):
            if in_control(customer):
                continue
            decided = ask(client, customer, "in_app")
            assert "arm" not in decided
            assert decided["placements"][0]["offers"][0]["offer"] == CHALLENGER_FIRST


def test_decisions_go_on_while_an_experiment_starts(server: Server, other: httpx.Client) -> None:
    spec = definition("concurrent-kiosk", "kiosk")
    with server.client("author") as author:
        assert author.post("/v1/strategy-experiments", json={"definition": spec}).status_code == 201
    # (whether the start had answered before the request was sent, status, answer)
    results: list[tuple[bool, int, Any]] = []
    stop = threading.Event()
    started = threading.Event()

    def decide(n: int) -> None:
        with server.client("client") as client:
            i = 0
            while not stop.is_set():
                body = {"customer": {"id": f"kiosk-{n}-{i}"}, "channel": "kiosk"}
                was_started = started.is_set()
                r = client.post("/v1/decisions", json=body)
                results.append((was_started, r.status_code, r.json()))
                i += 1

    threads = [threading.Thread(target=decide, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    try:
        r = other.post("/v1/strategy-experiments/concurrent-kiosk/start")
        assert r.status_code == 200, r.text
        started.set()
        with server.client("client") as client:  # the holdout does not cover the kiosk
            for i in range(20):
                decided = ask(client, f"kiosk-after-{i}", "kiosk")
                assert decided["arm"]["name"] == expected_arm(spec, f"kiosk-after-{i}", False)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert results
    assert all(code == 200 for _, code, _ in results), results[:3]
    after = [d for was_started, _, d in results if was_started]
    assert after
    assert all(d["arm"]["experiment"] == "concurrent-kiosk" for d in after)
    for d in (d for _, _, d in results if "arm" in d):
        assert d["arm"]["name"] == expected_arm(spec, d["customer_id"], False)
    with server.client("approver") as approver:
        assert approver.post("/v1/strategy-experiments/concurrent-kiosk/stop").status_code == 200


def test_an_exploring_arm_explores_and_records_its_strategy(
    server: Server, other: httpx.Client
) -> None:
    spec = {"id": "explore-email", "channels": ["email"],
            "arms": [{"name": "champion", "share": 0.5, "snapshot": "live"},
                     {"name": "explore", "share": 0.5, "strategy": {"exploration": {
                         "kind": "epsilon_greedy", "epsilon": 1.0}}}]}  # fmt: skip
    start(server, other, spec)
    seen: Counter[str | None] = Counter()
    with server.client("client") as client:
        for i in range(40):
            customer = f"explore-{i}"
            decided = ask(client, customer, "email")
            arm = expected_arm(spec, customer)
            seen[arm] += 1
            if arm == "explore":  # the arm's exploration, with the channel's own scoring
                exploration = decided["exploration"]
                assert "epsilon_greedy(epsilon=1" in exploration["strategy"]
                assert exploration["strategy"].startswith("prie+")
                assert exploration["seed"] == decided["id"]
            else:  # the champion and the control group: the live channel is greedy
                assert "exploration" not in decided
    assert seen["explore"] > 0
    assert seen["champion"] > 0
    with server.client("approver") as approver:
        assert approver.post("/v1/strategy-experiments/explore-email/stop").status_code == 200
