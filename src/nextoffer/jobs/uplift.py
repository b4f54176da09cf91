"""Uplift models as files and as stored rows: train, evaluate, score.

An ``UpliftModel`` is what scoring needs: the feature encoder fitted on the training rows,
the fitted learner (T or X), the segment thresholds and an evaluation ``report``. Training
first evaluates: when there are enough rows (at least 200, and 20 per arm in the test
part), the learner is fitted on a stratified 70% and scored on the other 30% (Qini in our,
scikit-uplift's and causalml's conventions, AUUC, uplift@30%, calibration by decile, the
Qini curve's points); then it is fitted again on every row, with bootstrap replicas for the
intervals.

Models are stored (in files and in the database) with skops (``skops.io``), which keeps an
object's attributes as data (arrays, JSON) and loads only the types listed in ``TRUSTED``
(ours, NumPy's, scikit-learn's learners): loading a model runs no code it carries. A file or
row naming any other type is refused before anything is built, and a pickle (what models were
before) is refused unread, with a message to train it again.

Files: CSV or Parquet. ``--treatment`` names the column saying who was treated (0/1,
true/false, or any two values picked with ``--treated`` / ``--control``), ``--outcome`` the
outcome (0/1 conversion, or an amount); every other column is a feature, and text columns
are one-hot encoded.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import skops.io as sio
from numpy.typing import NDArray
from skops.io.exceptions import UntrustedTypesFoundException

from ..core.errors import NextofferError
from ..core.learning.features import FeatureEncoder, FeatureError
from ..core.learning.segments import Thresholds
from ..core.learning.uplift import Fits, TLearner, UpliftError, XLearner
from ..core.learning.uplift_metrics import (
    auuc,
    calibration,
    qini_coefficient,
    uplift_at_k,
    uplift_curve,
)

__all__ = [
    "METHODS",
    "TRUSTED",
    "PackedTrees",
    "Scores",
    "UpliftDataError",
    "UpliftModel",
    "check_score_columns",
    "fit_model",
    "read_table",
    "split_columns",
    "write_scores",
]

Method = Literal["t-learner", "x-learner"]
METHODS: tuple[Method, ...] = ("t-learner", "x-learner")
FORMAT = "nextoffer-uplift-model/2"  # /1: pickles, refused
# The types a stored model holds beyond those skops trusts of itself (built-in containers and
# scalars, NumPy arrays, scikit-learn's estimators): ours, and scikit-learn's internals of the
# boosted trees and pipelines. Loading refuses a model naming any other.
TRUSTED: tuple[str, ...] = (
    "nextoffer.core.learning.features.FeatureEncoder",
    "nextoffer.core.learning.segments.Thresholds",
    "nextoffer.core.learning.uplift.TLearner",
    "nextoffer.core.learning.uplift.XLearner",
    "nextoffer.jobs.uplift.PackedTrees",
    "nextoffer.jobs.uplift.UpliftModel",
    "numpy.dtype",
)
_PICKLE = b"\x80"  # the first byte of a pickle (protocol 2 and later)
_ZIP = b"PK\x03\x04"  # skops writes a zip file
MIN_EVALUATION_ROWS = 200


class UpliftDataError(NextofferError):
    """Training or scoring data that cannot be used; ``field`` names the option or column."""


@dataclass(frozen=True)
class Scores:
    tau: NDArray[np.float64]
    lower: NDArray[np.float64] | None
    upper: NDArray[np.float64] | None
    base_rate: NDArray[np.float64]
    segments: list[str]


@dataclass
class PackedTrees:
    """A boosted ensemble's trees as three arrays, for storage: each tree of
    ``HistGradientBoosting*._predictors`` is a ``TreePredictor`` of a few small arrays, and
    skops stores every array as a file of its own (30 bootstrap replicas made 12,000 trees,
    a 95 MB model that took 80 s to write); packed, a model has a few arrays per learner."""

    shape: list[int]  # iterations, trees per iteration
    sizes: NDArray[np.int64]  # per tree: its nodes, binned and raw bitset rows
    nodes: NDArray[Any]
    binned: NDArray[np.uint32]
    raw: NDArray[np.uint32]

    @classmethod
    def pack(cls, predictors: list[list[Any]]) -> PackedTrees:
        trees = [tree for iteration in predictors for tree in iteration]
        return cls(
            shape=[len(predictors), len(predictors[0]) if predictors else 0],
            sizes=np.array(
                [
                    [len(t.nodes), len(t.binned_left_cat_bitsets), len(t.raw_left_cat_bitsets)]
                    for t in trees
                ],
                dtype=np.int64,
            ).reshape(-1, 3),
            nodes=np.concatenate([t.nodes for t in trees]) if trees else np.zeros(0),
            binned=_rows([t.binned_left_cat_bitsets for t in trees]),
            raw=_rows([t.raw_left_cat_bitsets for t in trees]),
        )

    def unpack(self) -> list[list[Any]]:
        from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

        trees, at = [], np.zeros(3, dtype=np.int64)
        for size in self.sizes:
            end = at + size
            trees.append(TreePredictor(self.nodes[at[0] : end[0]], self.binned[at[1] : end[1]],
                                       self.raw[at[2] : end[2]]))  # fmt: skip
            at = end
        per = self.shape[1]
        return [trees[i * per : (i + 1) * per] for i in range(self.shape[0])]


def _rows(parts: list[NDArray[Any]]) -> NDArray[np.uint32]:
    return np.concatenate(parts) if parts else np.zeros((0, 8), dtype=np.uint32)


def _ensembles(learner: Any) -> list[Any]:
    """The fitted estimators of ``learner`` and its replicas that hold boosted trees."""
    found = []
    for fitted in [learner, *getattr(learner, "replicas_", [])]:
        for estimator in [*getattr(fitted, "models_", []), *getattr(fitted, "effect_models_", [])]:
            if isinstance(getattr(estimator, "_predictors", None), (list, PackedTrees)):
                found.append(estimator)
    return found


@dataclass
class UpliftModel:
    encoder: FeatureEncoder
    learner: TLearner | XLearner
    method: Method
    outcome: str
    thresholds: Thresholds = field(default_factory=Thresholds)
    trained_at: str = ""
    report: dict[str, Any] = field(default_factory=dict)

    def score(self, columns: Mapping[str, Any]) -> Scores:
        try:
            X = self.encoder.transform(columns)
        except FeatureError as exc:
            raise UpliftDataError(exc.field, exc.message) from None
        tau = self.learner.predict(X)
        base = self.learner.predict_control(X)
        lower = upper = None
        if self.learner.replicas_:
            lower, upper = self.learner.predict_interval(X)
        segments = [
            self.thresholds.segment(
                float(tau[i]),
                None if lower is None or upper is None else (float(lower[i]), float(upper[i])),
                float(base[i]),
            )
            for i in range(tau.size)
        ]
        return Scores(tau, lower, upper, base, segments)

    def dumps(self) -> bytes:
        ensembles = _ensembles(self.learner)
        kept = [e._predictors for e in ensembles]
        try:  # packed while written (a model is written before anyone scores with it)
            for estimator in ensembles:
                estimator._predictors = PackedTrees.pack(estimator._predictors)
            data: bytes = sio.dumps({"format": FORMAT, "model": self})
        finally:
            for estimator, predictors in zip(ensembles, kept, strict=True):
                estimator._predictors = predictors
        return data

    @classmethod
    def loads(cls, data: bytes, source: str = "model") -> UpliftModel:
        """The model ``data`` holds; refused (``UpliftDataError`` naming ``source``) unless
        it is a skops file of trusted types only: nothing in it runs or is built before it
        has been checked, and a pickle is never read."""
        if data[:1] == _PICKLE:
            raise UpliftDataError(
                source,
                "is a pickled model (as nextoffer stored them before); pickles are not loaded,"
                " since loading one can run any code: train it again with"
                " `nextoffer uplift train`",
            )
        if not data.startswith(_ZIP):
            raise UpliftDataError(source, "is not a nextoffer uplift model file")
        try:
            bundle = sio.loads(data, trusted=list(TRUSTED))
        except UntrustedTypesFoundException as exc:
            raise UpliftDataError(
                source, f"names types no nextoffer model holds, so nothing was loaded: {exc}"
            ) from None
        except Exception:  # a damaged or foreign file: not one of our models
            raise UpliftDataError(source, "is not a nextoffer uplift model file") from None
        if not (
            isinstance(bundle, dict)
            and bundle.get("format") == FORMAT
            and isinstance(bundle.get("model"), UpliftModel)
        ):
            raise UpliftDataError(source, "is not a nextoffer uplift model file")
        model: UpliftModel = bundle["model"]
        for estimator in _ensembles(model.learner):
            if not isinstance(estimator._predictors, PackedTrees):
                raise UpliftDataError(source, "is not a nextoffer uplift model file")
            estimator._predictors = estimator._predictors.unpack()
        return model

    def save(self, path: Path) -> None:
        path.write_bytes(self.dumps())

    @classmethod
    def load(cls, path: Path) -> UpliftModel:
        if not path.is_file():
            raise UpliftDataError("--model", f"no such file: {path}")
        return cls.loads(path.read_bytes(), "--model")


def _learner(method: str, propensity: float | None, n_bootstrap: int, seed: int) -> Any:
    if method == "t-learner":
        return TLearner(n_bootstrap=n_bootstrap, random_state=seed)
    if method == "x-learner":
        return XLearner(propensity=propensity, n_bootstrap=n_bootstrap, random_state=seed)
    raise UpliftDataError("method", f"must be one of {', '.join(METHODS)}")


def _evaluate(
    X: NDArray[np.float64],
    t: NDArray[np.int8],
    y: NDArray[np.float64],
    method: str,
    propensity: float | None,
    seed: int,
) -> dict[str, Any]:
    from sklearn.model_selection import train_test_split

    n_test = int(len(y) * 0.3)
    if len(y) < MIN_EVALUATION_ROWS or min((t == 1).sum(), (t == 0).sum()) * 0.3 < 20:
        return {"evaluated": False,
                "reason": f"too few rows to hold 30% out ({len(y)}; at least "
                          f"{MIN_EVALUATION_ROWS} and 67 per arm)"}  # fmt: skip
    binary = bool(np.isin(y, (0.0, 1.0)).all())
    strata = t * 2 + (y > 0) if binary else t
    if np.bincount(strata).min(initial=2) < 2:  # a (treatment, outcome) cell of one row
        strata = t
    train, test = train_test_split(
        np.arange(len(y)), test_size=n_test, stratify=strata, random_state=seed
    )
    try:
        fitted = _learner(method, propensity, 0, seed).fit(X[train], t[train], y[train])
    except (UpliftError, ValueError) as exc:  # e.g. one arm's training part has one outcome
        return {"evaluated": False, "reason": str(exc)}
    tau, tt, yt = fitted.predict(X[test]), t[test], y[test]
    out: dict[str, Any] = {"evaluated": True, "test_rows": int(test.size)}
    try:
        out["qini"] = {c: qini_coefficient(tau, tt, yt, convention=c)
                       for c in ("nextoffer", "sklift", "causalml")}  # fmt: skip
        out["auuc"] = {c: auuc(tau, tt, yt, convention=c) for c in ("nextoffer", "causalml")}
        out["uplift_at_30"] = uplift_at_k(tau, tt, yt, 0.3)
    except ValueError as exc:  # e.g. no responder in the test part: nothing to rank against
        return {"evaluated": False, "reason": str(exc)}
    out["calibration"] = [asdict(d) for d in calibration(tau, tt, yt)]
    out["curve"] = uplift_curve(tau, tt, yt).points()
    return out


def fit_model(
    columns: Mapping[str, Any],
    treatment: NDArray[np.int8],
    y: NDArray[np.float64],
    *,
    method: str = "x-learner",
    outcome: str = "conversion",
    propensity: float | None = None,
    n_bootstrap: int = 30,
    thresholds: Thresholds | None = None,
    seed: int = 0,
    fits: Fits | None = None,
) -> UpliftModel:
    """Evaluate on a 30% holdout, then fit on every row (with bootstrap replicas, fitted by
    ``fits``: here by default, or on Spark's executors)."""
    try:
        encoder = FeatureEncoder.fit(columns)
        X = encoder.transform(columns)
    except FeatureError as exc:
        raise UpliftDataError(exc.field, exc.message) from None
    t = np.asarray(treatment, dtype=np.int8)
    ya = np.asarray(y, dtype=float)
    report = _evaluate(X, t, ya, method, propensity, seed)
    learner = _learner(method, propensity, n_bootstrap, seed)
    try:
        learner.fit(X, t, ya, fits=fits)
    except UpliftError as exc:
        raise UpliftDataError(exc.field, exc.message) from None
    except ValueError as exc:  # the base learners' own checks, translated at the boundary
        raise UpliftDataError("data", str(exc)) from None
    treated, control = ya[t == 1], ya[t == 0]
    report.update(
        rows=int(t.size), treated=int(treated.size), control=int(control.size),
        outcome_type=learner.outcome_, features=encoder.names,
        observed_effect=float(treated.mean() - control.mean()),
        mean_tau=float(learner.predict(X).mean()), propensity=propensity,
    )  # fmt: skip
    return UpliftModel(
        encoder=encoder,
        learner=learner,
        method=method,  # type: ignore[arg-type]
        outcome=outcome,
        thresholds=thresholds or Thresholds(),
        trained_at=dt.datetime.now(dt.UTC).isoformat(),
        report=report,
    )


# -- files ----------------------------------------------------------------------------------


def read_table(path: Path) -> dict[str, list[Any]]:
    """A CSV (``.csv.gz``: gzip-compressed, decompressed as it is read) or Parquet file as
    columns (lists of Python values)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if not path.is_file():
        raise UpliftDataError("--data", f"no such file: {path}")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            table = pq.read_table(path)
        else:
            table = pcsv.read_csv(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise UpliftDataError("--data", f"cannot read {path.name}: {exc}") from None
    if table.num_rows == 0:
        raise UpliftDataError("--data", f"{path.name} has no rows")
    return {name: table.column(name).to_pylist() for name in table.column_names}


def _arm(value: Any, treated: str | None, control: str | None) -> int | None:
    if treated is not None or control is not None:
        text = "" if value is None else str(value)
        if treated is not None and text == treated:
            return 1
        if control is not None and text == control:
            return 0
        if treated is None:
            return 1  # everything not the control is treated
        return 0 if control is None else None
    if value in (1, True, "1", "true", "True"):
        return 1
    if value in (0, False, "0", "false", "False"):
        return 0
    raise UpliftDataError("--treatment", f"values must be 0/1 or true/false, got {value!r} "
                          "(or pick the arms with --treated/--control)")  # fmt: skip


def split_columns(
    columns: dict[str, list[Any]],
    treatment: str,
    outcome: str | None,
    *,
    treated: str | None = None,
    control: str | None = None,
) -> tuple[dict[str, list[Any]], NDArray[np.int8], NDArray[np.float64] | None, NDArray[np.intp]]:
    """Features, the arm per row, the outcome per row, and which input rows were kept (rows
    in neither named arm are left out)."""
    for name, option in ((treatment, "--treatment"), (outcome, "--outcome")):
        if name is not None and name not in columns:
            raise UpliftDataError(option, f"no column {name!r} (columns: {', '.join(columns)})")
    arms = [_arm(v, treated, control) for v in columns[treatment]]
    kept = np.array([i for i, a in enumerate(arms) if a is not None], dtype=np.intp)
    if kept.size == 0:
        raise UpliftDataError("--treated", "no row is in either arm")
    t = np.array([arms[i] for i in kept], dtype=np.int8)
    y = None
    if outcome is not None:
        raw = [columns[outcome][i] for i in kept]
        bad = next((i for i, v in enumerate(raw) if not _number(v)), None)
        if bad is not None:
            raise UpliftDataError(
                "--outcome", f"row {int(kept[bad]) + 1}: {raw[bad]!r} is not a number"
            )
        y = np.array(raw, dtype=float)
    features = {
        k: [v[i] for i in kept] for k, v in columns.items() if k not in (treatment, outcome)
    }
    if not features:
        raise UpliftDataError("--data", "no feature columns besides the treatment and outcome")
    return features, t, y, kept


def _number(value: Any) -> bool:
    return isinstance(value, (bool, int, float)) and math.isfinite(float(value))


SCORE_COLUMNS = ("cate", "cate_lower", "cate_upper", "base_rate", "uplift_segment")


def check_score_columns(columns: Collection[str]) -> None:
    """An input whose columns would be overwritten by the scores is refused, naming them."""
    clash = [name for name in SCORE_COLUMNS if name in columns]
    if clash:
        names = ", ".join(repr(c) for c in clash)
        raise UpliftDataError(
            "--data",
            f"the input already has column(s) {names}, which the scores would overwrite"
            f" (uplift score adds {', '.join(SCORE_COLUMNS)}); rename them in the input",
        )


def write_scores(columns: dict[str, list[Any]], scores: Scores, out: Path) -> int:
    """The input rows with ``cate`` (and ``cate_lower``, ``cate_upper``, ``base_rate``,
    ``uplift_segment``) as CSV or Parquet, by the file's suffix. An output column never
    shadows an input column: an input with a column of one of these names is refused."""
    check_score_columns(columns)
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    data: dict[str, Any] = {k: list(v) for k, v in columns.items()}
    data["cate"] = scores.tau
    if scores.lower is not None and scores.upper is not None:
        data["cate_lower"], data["cate_upper"] = scores.lower, scores.upper
    data["base_rate"] = scores.base_rate
    data["uplift_segment"] = scores.segments
    table = pa.table(data)
    if out.suffix.lower() in (".parquet", ".pq"):
        pq.write_table(table, out)
    else:
        pcsv.write_csv(table, out)
    return int(table.num_rows)
