"""The learning jobs read the ledger's archive with the hot ledger (PostgreSQL): mining,
uplift training sets and models, off-policy evaluation give the same results after an
archive as before it, when they read the archive; without it they see only the hot rows and
say which archived months they did not read; a file that does not match its manifest is
refused, named.

The ledger spans January to April 2025 (fixed months, written with raw SQL as a migration
would: the ledger's clock is the server's, so rows of past months cannot come through the
API); January and February are archived (``--before 2025-03-01``), March and April stay
hot."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from nextoffer.service.archive import service as archive
from nextoffer.service.attach import repository as counts
from nextoffer.service.attach import service as attach
from nextoffer.service.db import Database
from nextoffer.service.errors import InvalidInput
from nextoffer.service.evaluation import service as evaluation
from nextoffer.service.ledger import repository as ledger
from nextoffer.service.migrate import upgrade
from nextoffer.service.rules.mining import ledger_transactions
from nextoffer.service.uplift import service as uplift
from nextoffer.testing.postgres import ThrowawayPostgres, owner_url

pytestmark = pytest.mark.postgres

MONTHS = [dt.datetime(2025, m, 1, tzinfo=dt.UTC) for m in (1, 2, 3, 4)]
BEFORE = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
NOW = dt.datetime(2025, 4, 28, tzinfo=dt.UTC)
ITEMS = ["bread", "butter", "jam", "milk", "tea"]


def _ledger(db: Database) -> None:
    """Four months of baskets (convert events listing items), and of decisions about
    customers, half of them in the control group, with their conversions."""
    rng = np.random.default_rng(7)
    with db.transaction() as session:
        ledger.create_partitions(session, MONTHS[0], NOW)
    n = 0
    with db.engine.begin() as conn:
        for m, month in enumerate(MONTHS):
            for i in range(60):
                n += 1
                at = month + dt.timedelta(days=int(rng.integers(0, 27)), minutes=i)
                basket = [x for x in ITEMS if rng.random() < 0.4]
                if "bread" in basket and rng.random() < 0.8:
                    basket.append("butter")
                conn.execute(
                    sa.text("INSERT INTO events (id, idempotency_key, type, session_id, payload,"
                            " occurred_at) VALUES (:id, :key, 'convert', :s, :payload, :at)"),
                    {"id": f"b-{n}", "key": f"b-{n}", "s": f"s-{n}", "at": at,
                     "payload": json.dumps({"items": sorted(set(basket))})},
                )  # fmt: skip
                customer = f"c-{m}-{i}"
                control = i % 2 == 0
                age = int(rng.integers(20, 70))
                offers = [{"offer": "card", "rules": []}]
                decision = ({"placements": [], "counterfactual": [{"offers": offers}]} if control
                            else {"placements": [{"placement": "email-hero", "offers": offers}]})  # fmt: skip
                conn.execute(
                    sa.text("INSERT INTO decisions (id, customer_id, channel, snapshot_version,"
                            " control, shown, request, decision, features, occurred_at) VALUES"
                            " (:id, :c, 'email', 'v1', :control, :shown, '{}', :decision,"
                            " :features, :at)"),
                    {"id": f"d-{n}", "c": customer, "control": control, "at": at,
                     "shown": json.dumps([] if control else ["card"]),
                     "decision": json.dumps(decision),
                     "features": json.dumps({"attributes": {"age": age, "score": age / 7},
                                             "holdings": ["checking"] if i % 3 else []})},
                )  # fmt: skip
                if not control:  # shown: an impression, and sometimes an accept (days later)
                    for kind, later in (("impression", 0), ("accept", int(rng.integers(0, 25)))):
                        if kind == "accept" and rng.random() < 0.7:
                            continue
                        conn.execute(
                            sa.text("INSERT INTO events (id, idempotency_key, type, customer_id,"
                                    " decision_id, offer_id, channel, payload, occurred_at)"
                                    " VALUES (:id, :id, :kind, :c, :d, 'card', 'email', '{}',"
                                    " :at)"),
                            {"id": f"{kind}-{n}", "kind": kind, "c": customer, "d": f"d-{n}",
                             "at": min(at + dt.timedelta(days=later), NOW)},
                        )  # fmt: skip
                if rng.random() < (0.2 if control else 0.2 + 0.01 * (age - 20)):
                    conn.execute(
                        sa.text("INSERT INTO events (id, idempotency_key, type, customer_id,"
                                " decision_id, offer_id, value, payload, occurred_at) VALUES"
                                " (:id, :key, 'convert', :c, :d, 'card', :value, '{}', :at)"),
                        {"id": f"v-{n}", "key": f"v-{n}", "c": customer, "d": f"d-{n}",
                         "value": round(float(rng.uniform(10, 90)), 2),
                         "at": at + dt.timedelta(days=2)},
                    )  # fmt: skip


@pytest.fixture
def db(postgres: ThrowawayPostgres) -> Any:
    database = Database(postgres.new_database())
    upgrade(database)
    _ledger(database)
    yield database
    database.dispose()


def _archive(db: Database, folder: Path) -> list[str]:
    owner = Database(owner_url(db.url))  # detaching partitions is the owner's
    try:
        done = archive.archive(owner.transaction, BEFORE, folder)
    finally:
        owner.dispose()
    return sorted(e["partition"] for e in done)


def _mined(db: Database, folder: Path | None) -> tuple[Any, archive.ArchiveView | None, list[str]]:
    with db.read() as session:
        view = None if folder is None else archive.open_archive(session, folder)
        data = ledger_transactions(session, None, view)
        return data, view, archive.unread(session, view)


def test_mining_reads_the_archive_as_if_the_rows_had_never_left(
    db: Database, tmp_path: Path
) -> None:
    before, _, unread = _mined(db, None)
    assert len(before.baskets) == 240 - before.dropped["empty baskets"]
    assert unread == []
    folder = tmp_path / "archive"
    assert _archive(db, folder) == sorted(f"{t}_p2025_{m:02d}" for t in ("decisions", "events",
                                          "journey_transitions") for m in (1, 2))  # fmt: skip
    with_archive, view, unread = _mined(db, folder)
    assert with_archive.baskets == before.baskets  # the same baskets, in the same order
    assert with_archive.dropped == before.dropped
    assert view is not None
    assert view.months_read() == ["2025-01", "2025-02"]
    assert unread == []
    hot, _, unread = _mined(db, None)
    assert hot.baskets == before.baskets[-len(hot.baskets) :]
    assert len(hot.baskets) < len(before.baskets)
    assert unread == ["2025-01", "2025-02"]


def test_uplift_training_set_and_models_are_the_same_with_the_archive(
    db: Database, tmp_path: Path
) -> None:
    params = {"method": "t-learner", "min_per_arm": 10, "n_bootstrap": 5, "lookback_days": 150,
              "window_days": 30, "seed": 3, "now": NOW, "score": False}  # fmt: skip
    with db.read() as session:
        exposures = uplift.exposures(session, lookback_days=150, now=NOW)
    first = uplift.prepare(db, **params)
    assert [r["trained"] for r in first.results] == [True]
    assert first.results[0]["treated"] + first.results[0]["control"] == 240
    folder = tmp_path / "archive"
    _archive(db, folder)
    again = uplift.prepare(db, archive_dir=folder, **params)
    assert again.results == first.results
    assert [s["report"] for s in again.stored] == [s["report"] for s in first.stored]
    assert again.archived is not None
    assert again.archived.months_read() == ["2025-01", "2025-02"]
    assert again.unread == []
    with db.read() as session:
        view = archive.open_archive(session, folder)
        assert uplift.exposures(session, lookback_days=150, now=NOW, archived=view) == exposures
    hot = uplift.prepare(db, **params)
    assert hot.results[0]["treated"] + hot.results[0]["control"] == 120
    assert hot.unread == ["2025-01", "2025-02"]
    # a lookback within the hot months reads nothing archived, and misses nothing
    recent = uplift.prepare(db, archive_dir=folder, **{**params, "lookback_days": 40})
    assert recent.archived is not None
    assert recent.archived.read == {}
    assert recent.unread == []


def _copy_month_back(db: Database, months: int) -> None:
    """Copy every decision and its events ``months`` months back (ids: their first three
    characters ``zz<months>``, never a UUID's; keys suffixed)."""
    back = f"interval '{months} months'"
    new_id = f"overlay(id placing 'zz{months}' from 1 for 3)"
    new_decision = f"overlay(decision_id placing 'zz{months}' from 1 for 3)"
    with db.engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO decisions (id, idempotency_key, customer_id, session_id, channel,"
            " snapshot_version, control, experiment, shown, request, decision, trace, features,"
            f" occurred_at) SELECT {new_id}, idempotency_key || '-{months}',"
            " customer_id, session_id, channel, snapshot_version, control, experiment, shown,"
            f" request, decision, trace, features, occurred_at - {back} FROM decisions"
            " WHERE id NOT LIKE 'zz%'"))  # fmt: skip
        conn.execute(sa.text(
            "INSERT INTO events (id, idempotency_key, type, customer_id, session_id,"
            " decision_id, offer_id, channel, placement, value, payload, attributed,"
            f" occurred_at) SELECT {new_id}, idempotency_key || '-{months}', type,"
            f" customer_id, session_id, {new_decision}, offer_id, channel,"
            f" placement, value, payload, attributed, occurred_at - {back} FROM events"
            " WHERE decision_id IS NOT NULL AND decision_id NOT LIKE 'zz%'"))  # fmt: skip


def test_evaluation_over_a_window_reaching_archived_months_is_the_same(
    postgres: ThrowawayPostgres, tmp_path: Path
) -> None:
    from tests.service.test_evaluation import _app, _bank, _checkout, _close, _record

    app = _app(postgres.new_database())
    db: Database = app.state.db
    try:
        _record(app, [_checkout(i) for i in range(60)] + [_bank(i) for i in range(30)], seed=5)
        with db.read() as session:
            now = evaluation.ledger_now(session)
        this_month = dt.datetime(now.year, now.month, 1, tzinfo=dt.UTC)
        with db.transaction() as session:
            ledger.create_partitions(session, this_month - dt.timedelta(days=80), now)
        _copy_month_back(db, 1)
        _copy_month_back(db, 2)

        def evaluated(view: archive.ArchiveView | None) -> dict[str, Any]:
            with db.read() as session:
                target = evaluation.live_target(session)
                return evaluation.evaluate(session, target, days=100, channel=None, now=now,
                                           seed=4, resamples=200, archived=view)  # fmt: skip

        before = evaluated(None)
        assert before["decisions_read"] == 270
        folder = tmp_path / "archive"
        owner = Database(owner_url(db.url))  # detaching partitions is the owner's
        done = archive.archive(owner.transaction, this_month, folder)
        owner.dispose()
        assert {e["ledger"] for e in done} >= {"decisions", "events"}
        with db.read() as session:
            view = archive.open_archive(session, folder)
        assert evaluated(view) == before
        assert set(view.read) == {
            e["partition"] for e in done if e["ledger"] != "journey_transitions"
        }
        hot = evaluated(None)
        assert hot["decisions_read"] == 90
        assert hot["metrics"] != before["metrics"]
    finally:
        _close(app)


def test_a_file_that_does_not_match_the_manifest_is_refused_naming_it(
    db: Database, tmp_path: Path
) -> None:
    folder = tmp_path / "archive"
    _archive(db, folder)
    file = folder / "events" / "events_p2025_02.parquet"
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 1
    file.write_bytes(bytes(data))
    with pytest.raises(InvalidInput) as caught:
        _mined(db, folder)
    assert caught.value.errors[0]["field"] == "archive"
    assert f"{file}: refused, it does not match the manifest" in caught.value.message
    assert "checksum differs" in caught.value.message
    # a window that does not reach the month reads (and checks) none of its files
    with db.read() as session:
        view = archive.open_archive(session, folder)
    assert archive.archived_rows(view, "events", ["id"], since=BEFORE) == []
    assert view.read == {}


def test_an_archive_partition_still_attached_is_left_to_the_hot_ledger(
    db: Database, tmp_path: Path
) -> None:
    folder = tmp_path / "archive"
    _archive(db, folder)
    with db.read() as session:
        view = archive.open_archive(session, folder)
    # as if the manifest named a partition whose detach never committed
    manifest = json.loads((folder / "manifest.json").read_text())
    attached = {**manifest["partitions"][0], "partition": "events_p2025_03",
                "start": "2025-03-01T00:00:00+00:00", "end": "2025-04-01T00:00:00+00:00"}  # fmt: skip
    manifest["partitions"].append(attached)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with db.read() as session:
        again = archive.open_archive(session, folder)
    assert again.attached == ["events_p2025_03"]
    assert again.entries == view.entries
    # rows found both archived and hot are refused, not counted twice
    old = archive.archived_rows(view, "events", ["id"])
    with pytest.raises(InvalidInput, match="rows are both archived and in the hot ledger"):
        archive.merged(view, old, old[:3])


@pytest.mark.parametrize("make", ["missing", "file", "no-manifest", "bad-manifest"])
def test_a_bad_archive_folder_is_refused_naming_it(db: Database, tmp_path: Path, make: str) -> None:
    folder = tmp_path / "archive"
    if make == "file":
        folder.write_text("x")
    elif make != "missing":
        folder.mkdir()
    if make == "bad-manifest":
        (folder / "manifest.json").write_text("{not json")
    with db.read() as session, pytest.raises(InvalidInput) as caught:
        archive.open_archive(session, folder)
    assert caught.value.errors[0]["field"] == "archive"
    assert str(folder) in caught.value.message


def test_a_full_attach_recount_reads_the_archive_and_equals_the_counts_kept(
    db: Database, tmp_path: Path
) -> None:
    with db.transaction() as session:
        kept = attach.refresh(session)
    with db.read() as session:
        whole = counts.count_ledger(session)
        stored = counts.stored_counts(session)
    assert stored == whole
    assert sum(c[0] for c in stored.values()) == 120  # every treated decision's showing
    folder = tmp_path / "archive"
    _archive(db, folder)
    # a recount of the hot ledger alone would drop the archived months' showings: refused
    with db.transaction() as session, pytest.raises(InvalidInput) as caught:
        attach.recount(session)
    assert caught.value.errors[0]["field"] == "archive"
    assert "2 archived months (2025-01, 2025-02) would be left out" in caught.value.message
    with db.transaction() as session:
        view = archive.open_archive(session, folder)
        done = attach.recount(session, view)
    assert done["changed"] is False
    assert done["counted_up_to"] == kept["counted_up_to"]
    assert set(view.read) == {"events_p2025_01", "events_p2025_02", "decisions_p2025_01",
                              "decisions_p2025_02"}  # fmt: skip
    with db.read() as session:
        assert counts.stored_counts(session) == stored
    # counts lost (or never kept) come back from the ledger and its archive
    with db.transaction() as session:
        counts.replace_counts(session, {}, counts.ATTACH_WATERMARK, 0)
    with db.transaction() as session:
        done = attach.recount(session, archive.open_archive(session, folder))
    assert done["changed"] is True
    with db.read() as session:
        assert counts.stored_counts(session) == stored
