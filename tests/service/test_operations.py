"""Operations on a real server: the probes (``/livez``, ``/readyz``, 503 within 2 s of
losing PostgreSQL), Prometheus ``/metrics`` (names and labels linted, counts added up across
two workers), the JSON log (a request id a line, the decision id, nothing personal)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from nextoffer.scenarios.demo import demo_snapshot
from nextoffer.service.db import Database, after_commit
from nextoffer.service.operations.metrics import FLUSH_SECONDS
from nextoffer.testing.postgres import ThrowawayPostgres

from .server import Server, load_catalog

PREMIUM_36 = {"tier": "premium", "tenureMonths": 36, "hasCreditCard": False, "balance": 12000.0}


def _decision(customer: str, channel: str = "email") -> dict[str, Any]:
    return {"customer": {"id": customer, "attributes": PREMIUM_36, "holdings": ["checking"]},
            "channel": channel}  # fmt: skip


def _samples(text: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def _value(text: str, name: str, **labels: str) -> float:
    return sum(s.value for s in _samples(text)
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))  # fmt: skip


# -- probes -----------------------------------------------------------------------------------


def _ready(srv: Server) -> httpx.Response:
    """``/readyz`` once ready (the models are read within a second of the start), or after
    10 s."""
    deadline = time.monotonic() + 10
    while True:
        r = httpx.get(f"{srv.url}/readyz")
        if r.status_code == 200 or time.monotonic() > deadline:
            return r
        time.sleep(0.1)


def test_livez_and_readyz_answer_when_all_is_well(server: Server) -> None:
    assert httpx.get(f"{server.url}/livez").json() == {"status": "ok"}
    r = httpx.get(f"{server.url}/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ready"
    assert r.json()["checks"]["snapshot"] != "none published yet"  # the server's demo
    assert r.json()["checks"] == {"database": "ok", "migrations": "ok",
                                  "snapshot": r.json()["checks"]["snapshot"], "models": "ok"}  # fmt: skip
    # the first release's probe is an alias (the snapshot is the answering worker's: one
    # may not have loaded the version another test just published)
    alias = httpx.get(f"{server.url}/healthz")
    assert alias.status_code == 200
    assert alias.json()["status"] == "ready"
    assert alias.json()["checks"].keys() == r.json()["checks"].keys()


def test_readyz_is_503_naming_the_migrations_when_the_schema_is_behind(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'behind.db'}"
    srv = Server(url).start()
    try:
        assert _ready(srv).status_code == 200
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            head = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '0001'"))
        r = httpx.get(f"{srv.url}/readyz")
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "1"
        assert r.json()["reasons"] == [
            f"migrations: the schema is at 0001, this code's is {head}: run nextoffer migrate"
        ]
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": head})
        engine.dispose()
        assert httpx.get(f"{srv.url}/readyz").status_code == 200
    finally:
        srv.stop()


def test_readyz_is_ready_before_the_first_publish_and_says_so(tmp_path: Path) -> None:
    """A new install is set up through this API: nothing published yet is not a reason to
    keep traffic away."""
    srv = Server(f"sqlite:///{tmp_path / 'new.db'}").start()
    try:
        r = _ready(srv)
        assert r.status_code == 200, r.text
        assert r.json()["checks"]["snapshot"] == "none published yet"
    finally:
        srv.stop()


@pytest.mark.postgres
def test_readyz_is_503_within_2_seconds_of_losing_postgresql() -> None:
    with ThrowawayPostgres(database="readyz") as pg:
        srv = Server(pg.url).start()
        try:
            load_catalog(srv)
            assert _ready(srv).status_code == 200
            pg.stop()  # the server is gone (stopped at once, its files removed)
            lost = time.monotonic()
            while True:
                r = httpx.get(f"{srv.url}/readyz", timeout=5)
                if r.status_code == 503 or time.monotonic() - lost > 5:
                    break
                time.sleep(0.05)
            took = time.monotonic() - lost
            assert r.status_code == 503, r.text
            assert took < 2.0, took
            assert r.json()["status"] == "not ready"
            assert r.json()["reasons"][0].startswith("database: ")
            assert httpx.get(f"{srv.url}/livez").status_code == 200  # alive: do not restart
        finally:
            srv.stop()


# -- metrics ----------------------------------------------------------------------------------

NAME = re.compile(r"^nextoffer_[a-z][a-z0-9_]*[a-z0-9]$")
# what each kind of metric's name ends with: a base unit, then the type's own suffix
ENDINGS = {
    "counter": ("_total",),
    "histogram": ("_seconds", "_bytes"),
    "gauge": ("_seconds", "_bytes", "_info", "_ratio", "nextoffer_uplift_models"),
    "info": ("_info",),
}
LABELS = {"channel", "result", "stage", "reason", "policy_type", "type", "kind", "method",
          "route", "status", "version", "python", "which", "le"}  # fmt: skip


def _traffic(srv: Server) -> list[str]:
    """Decisions (offered and refused), events (one sent twice), a bad request; the ids
    that must not appear in any label."""
    ids = []
    with srv.client("client") as client:
        for i in range(3):
            r = client.post("/v1/decisions", json=_decision(f"metrics-cust-{i}"))
            assert r.status_code == 200, r.text
            ids.append(r.json()["id"])
        r = client.post("/v1/decisions", json=_decision("metrics-cust-x", "no-such-channel"))
        assert r.status_code == 422
        event = {"type": "impression", "customer_id": "metrics-cust-0", "decision_id": ids[0],
                 "offer_id": "credit-card", "idempotency_key": "metrics-ev-1"}  # fmt: skip
        for _ in range(2):
            assert client.post("/v1/events", json=event).status_code in (200, 201)
    return ids


def test_metrics_names_and_labels_pass_the_lint(server: Server) -> None:
    ids = _traffic(server)
    r = httpx.get(f"{server.url}/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    families = list(text_string_to_metric_families(r.text))
    names = {f.name for f in families}
    for family in families:
        assert NAME.match(family.name), family.name
        assert family.documentation, family.name
        endings = ENDINGS[family.type]
        shown = family.name + ("_total" if family.type == "counter" else "")
        assert shown.endswith(endings), (family.name, family.type)
        for sample in family.samples:
            assert set(sample.labels) <= LABELS, (sample.name, sample.labels)
    expected = {"nextoffer_decisions", "nextoffer_decision_duration_seconds",
                "nextoffer_candidates_dropped", "nextoffer_events_ingested",
                "nextoffer_event_duplicates", "nextoffer_ledger_write_duration_seconds",
                "nextoffer_http_requests", "nextoffer_build_info", "nextoffer_snapshot_info",
                "nextoffer_snapshot_age_seconds", "nextoffer_uplift_models"}  # fmt: skip
    assert expected <= names, expected - names
    # no label holds a customer, offer, rule or decision id, or a channel not in the catalog
    catalog = demo_snapshot()
    unbounded = {*ids, "metrics-cust-0", "metrics-cust-x", "no-such-channel",
                 *(o["id"] for o in catalog["offers"]), *(r["id"] for r in catalog["rules"])}  # fmt: skip
    values = {v for s in _samples(r.text) for k, v in s.labels.items() if k != "le"}
    assert values & unbounded == set()
    text = r.text
    assert _value(text, "nextoffer_decisions_total", channel="unknown", result="invalid") >= 1
    assert _value(text, "nextoffer_event_duplicates_total") >= 1
    assert _value(text, "nextoffer_events_ingested_total", type="impression") >= 1
    live = httpx.get(f"{server.url}/healthz").json()["checks"]["snapshot"]
    assert _value(text, "nextoffer_snapshot_info", version=live) == 1
    assert 0 <= _value(text, "nextoffer_snapshot_age_seconds") < 600
    assert _value(text, "nextoffer_candidates_dropped_total") >= 1
    assert _value(text, "nextoffer_http_requests_total", method="POST",
                  route="/v1/decisions", status="200") >= 3  # fmt: skip


@pytest.fixture
def two_workers(postgres: ThrowawayPostgres) -> Iterator[Server]:
    srv = Server(postgres.new_database("metrics"), workers=2).start()
    load_catalog(srv)
    yield srv
    srv.stop()


@pytest.mark.postgres
def test_metrics_add_up_the_decisions_of_both_workers(two_workers: Server) -> None:
    srv = two_workers
    workers: dict[str, int] = {}
    sent = 0
    for i in range(60):  # a new connection each: the kernel spreads them over the workers
        with srv.client("client") as client:
            r = client.post("/v1/decisions", json=_decision(f"workers-{i}"))
        assert r.status_code == 200, r.text
        workers[r.headers["x-worker"]] = workers.get(r.headers["x-worker"], 0) + 1
        sent += 1
        if len(workers) == 2 and i >= 20:
            break
    assert len(workers) == 2, workers
    time.sleep(2 * FLUSH_SECONDS)  # each worker has written what it counted
    for _ in range(8):  # whichever worker answers the scrape, it counts both
        with httpx.Client(base_url=srv.url) as scraper:  # a new connection: either worker
            r = scraper.get("/metrics")
        text = r.text
        decided = sum(_value(text, "nextoffer_decisions_total", channel="email", result=result)
                      for result in ("offered", "empty", "control"))  # fmt: skip
        assert decided == sent, (decided, sent, workers)
        assert _value(text, "nextoffer_decision_duration_seconds_count", channel="email") == sent
        assert _value(text, "nextoffer_decision_duration_seconds_bucket", channel="email",
                      le="+Inf") == sent  # fmt: skip
        assert _value(text, "nextoffer_http_requests_total", route="/v1/decisions") == sent


# -- logs -------------------------------------------------------------------------------------

PERSONAL = {"name": "Ada Obscure-Lovelace", "email": "ada.obscure@example.org",
            "phone": "+44 20 7946 0958"}  # fmt: skip


@pytest.fixture(scope="module")
def json_logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    url = f"sqlite:///{tmp_path_factory.mktemp('logs') / 'logs.db'}"
    srv = Server(url, args=("--log-format", "json")).start()
    load_catalog(srv)
    yield srv
    srv.stop()


def _lines(srv: Server) -> list[dict[str, Any]]:
    text = Path(srv.log.name).read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_every_log_line_is_json_and_a_request_has_its_id_and_decision_id(
    json_logged: Server,
) -> None:
    srv = json_logged
    with srv.client("client") as client:
        decided = client.post("/v1/decisions", json=_decision("logs-cust-1"))
        given = client.get("/livez", headers={"X-Request-ID": "lb-1234.abc"})
        forged = client.get("/livez", headers={"X-Request-ID": 'no spaces or " allowed'})
    assert decided.status_code == 200
    assert given.headers["x-request-id"] == "lb-1234.abc"
    assert re.fullmatch(r"[0-9a-f]{32}", forged.headers["x-request-id"])
    time.sleep(0.2)
    lines = _lines(srv)  # every line parses as JSON (json.loads above)
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    by_id = {line.get("request_id"): line for line in lines if line["logger"] == "nextoffer.access"}
    line = by_id[decided.headers["x-request-id"]]
    assert line["decision_id"] == decided.json()["id"]
    assert (line["method"], line["route"], line["status"]) == ("POST", "/v1/decisions", 200)
    assert by_id["lb-1234.abc"]["route"] == "/livez"
    assert "decision_id" not in by_id["lb-1234.abc"]


def test_nothing_personal_reaches_the_log(json_logged: Server) -> None:
    srv = json_logged
    customer = "logs-secret-customer-77"
    with srv.client("client") as client:
        body = {"attributes": {**PREMIUM_36, "balance": 98765.4321}, "holdings": ["checking"]}
        assert client.put(f"/v1/customers/{customer}", json=body).status_code == 200
        with srv.client("admin") as admin:
            r = admin.put(f"/v1/customers/{customer}/personal-data", json=PERSONAL)
            assert r.status_code == 200, r.text
        assert client.post("/v1/decisions", json=_decision(customer)).status_code == 200
        assert client.get(f"/v1/customers/{customer}/history").status_code == 200
        bad = {"customer": {"id": customer, "attributes": {"tenureMonths": PERSONAL["email"]}},
               "channel": "email"}  # fmt: skip
        assert client.post("/v1/decisions", json=bad).status_code == 422
        assert client.get(f"/v1/customers/{customer}?email={PERSONAL['email']}").status_code == 200
    time.sleep(0.2)
    text = Path(srv.log.name).read_text()
    assert text  # the requests were logged
    for secret in (customer, "98765.4321", *PERSONAL.values()):
        assert secret not in text, secret
    routes = {line.get("route") for line in _lines(srv)}
    assert "/v1/customers/{customer_id}/personal-data" in routes


def test_what_is_written_is_counted_when_it_commits_and_never_when_it_rolls_back(
    db: Database,
) -> None:
    """The events and journey steps a request writes are counted after its transaction
    commits (``after_commit``): a commit that fails wrote nothing, and counts nothing."""
    counted: list[str] = []
    with db.transaction() as s:
        after_commit(s, lambda: counted.append("written"))
        s.begin_nested().rollback()  # a savepoint given up: the transaction goes on
        s.execute(sa.text("SELECT 1"))
        assert counted == []  # not before the commit
    assert counted == ["written"]

    def failing_request() -> None:
        with db.transaction() as s:
            after_commit(s, lambda: counted.append("rolled back"))
            raise RuntimeError("the request failed before its commit")

    with pytest.raises(RuntimeError, match="before its commit"):
        failing_request()
    assert counted == ["written"]
