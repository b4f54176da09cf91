"""Stored uplift models are data: a model round-trips with the same predictions, and a file
or database row that would run code when loaded (a pickle, a skops file naming a type no
model holds) is refused with nothing run."""

from __future__ import annotations

import datetime as dt
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio

from nextoffer.jobs.uplift import FORMAT, UpliftDataError, UpliftModel, fit_model
from nextoffer.service.db import Database
from nextoffer.service.migrate import upgrade
from nextoffer.service.uplift import repository
from nextoffer.service.uplift.estimates import ModelCache

from ..cli.test_rules_cli import run

T0 = dt.datetime(2026, 3, 8, 14, 30, tzinfo=dt.UTC)


def _data(n: int = 400, seed: int = 3) -> tuple[dict[str, list[Any]], Any, Any]:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    region = rng.choice(["north", "south", "east"], n)
    t = rng.integers(0, 2, n).astype(np.int8)
    y = (rng.random(n) < 0.15 + 0.2 * t * (age < 40)).astype(float)
    return {"age": age.tolist(), "region": region.tolist()}, t, y


@pytest.mark.parametrize("method", ["t-learner", "x-learner"])
def test_a_model_round_trips_with_the_same_predictions(method: str) -> None:
    columns, t, y = _data()
    model = fit_model(columns, t, y, method=method, n_bootstrap=3, seed=1)
    data = model.dumps()
    assert data[:4] == b"PK\x03\x04"  # a skops (zip) file, not a pickle
    loaded = UpliftModel.loads(data)
    rows = {"age": [20, 35, 60, 79], "region": ["north", "west", "south", None]}
    before, after = model.score(rows), loaded.score(rows)
    assert np.array_equal(before.tau, after.tau)
    assert before.lower is not None
    assert after.lower is not None
    assert before.upper is not None
    assert after.upper is not None
    assert np.array_equal(before.lower, after.lower)
    assert np.array_equal(before.upper, after.upper)
    assert np.array_equal(before.base_rate, after.base_rate)
    assert before.segments == after.segments
    assert loaded.report == model.report
    assert loaded.method == method
    assert loaded.encoder.names == model.encoder.names


class _WritesOnUnpickle:
    """A pickle that writes a file when it is loaded (what a forged model row would do)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> Any:
        return (Path.write_text, (self.path, "ran"))


class _WritesOnLoad:
    """An object whose state, set when skops builds it, writes a file."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        Path(state["path"]).write_text("ran")


def _forged_pickle(path: Path) -> bytes:
    return pickle.dumps({"format": "nextoffer-uplift-model/1", "model": _WritesOnUnpickle(path)})


def _forged_skops(path: Path) -> bytes:
    data: bytes = sio.dumps({"format": FORMAT, "model": _WritesOnLoad(path)})
    return data


def test_the_forged_payloads_do_run_code_when_loaded_unchecked(tmp_path: Path) -> None:
    """The payloads below are live: loaded the unsafe way, each writes its file."""
    pickle.loads(_forged_pickle(tmp_path / "pickled"))
    assert (tmp_path / "pickled").read_text() == "ran"
    forged = _forged_skops(tmp_path / "skopsed")
    sio.loads(forged, trusted=sio.get_untrusted_types(data=forged))
    assert (tmp_path / "skopsed").read_text() == "ran"


def test_a_pickle_is_refused_unread(tmp_path: Path) -> None:
    with pytest.raises(UpliftDataError) as refused:
        UpliftModel.loads(_forged_pickle(tmp_path / "ran"), "model v1")
    assert refused.value.field == "model v1"
    assert "pickled model" in refused.value.message
    assert "nextoffer uplift train" in refused.value.message
    assert not (tmp_path / "ran").exists()


def test_a_skops_file_naming_an_untrusted_type_is_refused_before_anything_is_built(
    tmp_path: Path,
) -> None:
    with pytest.raises(UpliftDataError) as refused:
        UpliftModel.loads(_forged_skops(tmp_path / "ran"), "--model")
    assert refused.value.field == "--model"
    assert "_WritesOnLoad" in refused.value.message
    assert not (tmp_path / "ran").exists()
    # a function (here one that deletes files) is a type no model holds either
    with pytest.raises(UpliftDataError, match="remove"):
        UpliftModel.loads(sio.dumps({"format": FORMAT, "model": os.remove}))


@pytest.mark.parametrize("data", [b"", b"not a model", b"PK\x03\x04broken zip"])
def test_what_is_not_a_model_is_named(data: bytes) -> None:
    with pytest.raises(UpliftDataError, match="is not a nextoffer uplift model file"):
        UpliftModel.loads(data)


def test_a_skops_file_of_trusted_types_that_is_not_a_model_is_named() -> None:
    with pytest.raises(UpliftDataError, match="is not a nextoffer uplift model file"):
        UpliftModel.loads(sio.dumps({"format": "something else", "model": [1, 2]}))


def test_uplift_score_refuses_a_pickled_model_file(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("age,region\n30,north\n")
    (tmp_path / "old.pkl").write_bytes(_forged_pickle(tmp_path / "ran"))
    result = run("uplift", "score", "--model", tmp_path / "old.pkl", "--data",
                 tmp_path / "data.csv", "--out", tmp_path / "o.csv")  # fmt: skip
    assert result.returncode == 1
    assert "pickled model" in result.stderr
    assert "nextoffer uplift train" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "ran").exists()
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_forged_model_row_is_refused_by_the_workers_and_the_others_load(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'nextoffer.db'}"
    else:
        url = request.getfixturevalue("postgres").new_database("models")
    db = Database(url)
    upgrade(db)
    columns, t, y = _data()
    good = fit_model(columns, t, y, method="t-learner", n_bootstrap=0)
    rows = {"good-offer": good.dumps(), "forged-offer": _forged_pickle(tmp_path / "ran"),
            "skops-offer": _forged_skops(tmp_path / "ran")}  # fmt: skip
    with db.transaction() as session:
        for i, (offer, blob) in enumerate(rows.items()):
            repository.store_model(session, {
                "version": f"{offer}@1", "offer_id": offer, "method": "t-learner",
                "outcome": "conversion", "treated": 100, "control": 100, "report": {},
                "model": blob, "trained_at": T0 + dt.timedelta(minutes=i),
            })  # fmt: skip
    cache = ModelCache(db)
    live = cache.live(check=True)
    assert set(live) == {"good-offer"}
    assert not (tmp_path / "ran").exists()
    refused = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("forged-offer" in m and "nextoffer uplift train" in m for m in refused)
    assert any("skops-offer" in m and "_WritesOnLoad" in m for m in refused)
    caplog.clear()
    assert set(cache.live(check=True)) == {"good-offer"}  # refused once, not read again
    assert not caplog.records
    db.dispose()
