"""``nextoffer uplift train | score | report`` and ``nextoffer experiments list | report``.

With ``--data`` the uplift commands work on a file (CSV or Parquet) and a model file;
without it, on the ledger: one model per offer, stored in the database, and the CATE store.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from .engines import Master, check_engine
from .ledger import ArchiveDir, archive_note
from .output import charts_dir, check_table_file, fail, out, progress, write_table

if TYPE_CHECKING:
    from ..service.uplift.schemas import Report

uplift_app = typer.Typer(help="Uplift models: who an offer persuades.", no_args_is_help=True)
experiments_app = typer.Typer(help="Experiment reports from the ledger.", no_args_is_help=True)

Method = Annotated[str, typer.Option(help="t-learner or x-learner.")]
Charts = Annotated[
    Path | None, typer.Option("--charts", help="Write the charts (PNG) into this folder.")
]
Window = Annotated[
    int, typer.Option("--window-days", help="Days after a decision an outcome counts.")
]
Lookback = Annotated[int, typer.Option("--lookback-days", help="Days of ledger to learn from.")]


def _check_model_file(path: Path | None, option: str) -> None:
    if path is not None and path.suffix.lower() != ".pkl":
        fail(f"{option}: expected a .pkl model file, got {str(path)!r}")


def _check_data_file(path: Path, option: str, *, compressed: bool = False) -> None:
    """``compressed``: an input may also be a gzip-compressed CSV (``.csv.gz``)."""
    if compressed and path.name.lower().endswith(".csv.gz"):
        return
    if path.suffix.lower() not in (".csv", ".parquet", ".pq"):
        also = ", .csv.gz" if compressed else ""
        fail(f"{option}: expected a .csv{also} or .parquet file, got {str(path)!r}")


def _evaluation_rows(evaluation: dict[str, Any]) -> list[tuple[str, str]]:
    if not evaluation.get("evaluated"):
        return [("evaluation", f"none: {evaluation.get('reason', '')}")]
    q, a = evaluation["qini"], evaluation["auuc"]
    return [
        ("held-out rows", f"{evaluation['test_rows']:,}"),
        ("Qini (nextoffer = scikit-uplift)", f"{q['nextoffer']:+.4f}"),
        ("Qini (causalml)", f"{q['causalml']:+.4f}"),
        ("AUUC (nextoffer)", f"{a['nextoffer']:+.4f}"),
        ("AUUC (causalml)", f"{a['causalml']:+.4f}"),
        ("uplift@30%", f"{evaluation['uplift_at_30']:+.4f}"),
    ]


def _print_model(title: str, report: dict[str, Any]) -> None:
    table = Table(title=title, show_header=False)
    table.add_column("")
    table.add_column("", justify="right")
    table.add_row("rows (treated / control)",
                  f"{report['rows']:,} ({report['treated']:,} / {report['control']:,})")  # fmt: skip
    table.add_row("outcome", report["outcome_type"])
    table.add_row("observed effect (treated − control)", f"{report['observed_effect']:+.4f}")
    table.add_row("mean estimated τ", f"{report['mean_tau']:+.4f}")
    for name, value in _evaluation_rows(report):
        table.add_row(name, value)
    out.print(table)
    calibration = report.get("calibration")
    if calibration:
        cal = Table(title="calibration by decile of τ (held out)")
        for column in ("decile", "predicted τ", "observed", "± 2 s.e.", "treated", "control"):
            cal.add_column(column, justify="right")
        for d in calibration:
            observed = "–" if d["observed"] is None else f"{d['observed']:+.4f}"
            se = "–" if d["std_error"] is None else f"{2 * d['std_error']:.4f}"
            cal.add_row(str(d["group"]), f"{d['predicted']:+.4f}", observed, se,
                        str(d["n_treated"]), str(d["n_control"]))  # fmt: skip
        out.print(cal)


@uplift_app.command("train")
def train(
    data: Annotated[Path | None, typer.Option(help="CSV or Parquet; else the ledger.")] = None,
    treatment: Annotated[
        str | None, typer.Option(help="The column saying who was treated.")
    ] = None,
    outcome: Annotated[
        str | None,
        typer.Option(help="With --data: the outcome column. Ledger: conversion or value."),
    ] = None,
    treated: Annotated[
        str | None, typer.Option(help="The treatment column's treated value.")
    ] = None,
    control: Annotated[
        str | None, typer.Option(help="The treatment column's control value.")
    ] = None,
    method: Method = "x-learner",
    propensity: Annotated[
        float | None,
        typer.Option(help="Known probability of treatment (X-learner; else fitted)."),
    ] = None,
    model: Annotated[
        Path | None, typer.Option("--model", help="Write the model here (.pkl).")
    ] = None,
    offer: Annotated[str | None, typer.Option(help="Ledger: only this offer.")] = None,
    window_days: Window = 30,
    lookback_days: Lookback = 90,
    min_per_arm: Annotated[int, typer.Option(help="Ledger: fewest customers per arm.")] = 50,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap replicas for intervals.")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed (splits, bootstrap).")] = 0,
    persuade: Annotated[float, typer.Option(help="Segments: τ above it is persuadable.")] = 0.05,
    harm: Annotated[float, typer.Option(help="Segments: τ below it harms.")] = -0.05,
    high_base_rate: Annotated[
        float, typer.Option(help="Segments: a base rate at or above it is high.")
    ] = 0.2,
    charts: Charts = None,
    engine: Annotated[
        str,
        typer.Option(
            help="local, or spark (with --data): the bootstrap replicas fitted on "
            "Apache Spark's executors, the same model."
        ),
    ] = "local",
    master: Master = None,
    archive: ArchiveDir = None,
) -> None:
    """Train an uplift model (T- or X-learner), evaluated on a 30% holdout first."""
    from ..core.learning.segments import Thresholds
    from ..jobs.uplift import METHODS

    if harm > persuade:
        fail(f"--harm: must not exceed --persuade ({harm} > {persuade})")
    thresholds = Thresholds(persuade, harm, high_base_rate)

    if method not in METHODS:
        fail(f"--method: expected one of {', '.join(METHODS)}, got {method!r}")
    if bootstrap < 0 or bootstrap == 1 or bootstrap > 500:
        fail("--bootstrap: must be 0 (no intervals) or between 2 and 500")
    if propensity is not None and not 0 < propensity < 1:
        fail(f"--propensity: must be strictly between 0 and 1, got {propensity}")
    check_engine(engine, master)
    if engine == "spark" and data is None:
        fail("--engine spark: only with --data (a file)")
    _check_model_file(model, "--model")
    folder = charts_dir(charts)
    if data is None:
        for name, value in (("--treatment", treatment), ("--treated", treated),
                            ("--control", control), ("--propensity", propensity)):  # fmt: skip
            if value is not None:
                fail(f"{name}: only with --data (the ledger knows who was treated)")
        if model is not None:
            fail("--model: only with --data (ledger models are stored in the database)")
        _train_ledger(offer, method, outcome or "conversion", window_days, lookback_days,
                      min_per_arm, bootstrap, seed, thresholds, folder, archive)  # fmt: skip
        return
    if archive is not None:
        fail("--archive: only without --data (the ledger's archive)")
    if offer is not None:
        fail("--offer: only without --data (the ledger's offers)")
    if treatment is None or outcome is None:
        fail("--treatment and --outcome: both are needed with --data")
    if model is None:
        fail("--model: where to write the model (.pkl) is needed with --data")
    _check_data_file(data, "--data", compressed=True)
    fits = None
    if engine == "spark":
        from ..jobs.spark.session import SparkUnavailable, spark_session
        from ..jobs.spark.uplift import spark_fits

        try:
            fits = spark_fits(spark_session(master))
        except SparkUnavailable as exc:
            fail(f"--engine spark: {exc.message}")
    _train_file(data, treatment, outcome, treated, control, method, propensity, model,
                bootstrap, seed, thresholds, folder, fits)  # fmt: skip


def _train_file(
    data: Path, treatment: str, outcome: str, treated: str | None, control: str | None,
    method: str, propensity: float | None, model_path: Path, bootstrap: int, seed: int,
    thresholds: Any, folder: Path | None, fits: Any = None,
) -> None:  # fmt: skip
    from ..jobs.uplift import UpliftDataError, fit_model, read_table, split_columns

    with progress() as bar:
        task = bar.add_task(f"reading {data.name}", total=None)
        try:
            columns = read_table(data)
            features, t, y, kept = split_columns(columns, treatment, outcome,
                                                 treated=treated, control=control)  # fmt: skip
            assert y is not None
            bar.update(task, description=f"training ({method}, {bootstrap} bootstrap replicas)")
            model = fit_model(features, t, y, method=method, outcome=outcome, propensity=propensity,
                              n_bootstrap=bootstrap, thresholds=thresholds, seed=seed,
                              fits=fits)  # fmt: skip
        except UpliftDataError as exc:
            fail(f"{exc.field}: {exc.message}")
    try:
        model.save(model_path)
    except OSError as exc:
        fail(f"--model: cannot write {str(model_path)!r}: {exc}")
    dropped = len(next(iter(columns.values()))) - int(kept.size)
    note = f" ({dropped:,} rows in neither arm left out)" if dropped else ""
    _print_model(f"{method} on {data.name}: {outcome} by {treatment}{note}", model.report)
    out.print(f"wrote the model to {model_path}", markup=False)
    if folder is not None and model.report.get("evaluated"):
        from ..charts import qini_figure, save

        path = save(qini_figure(model.report["curve"], f"Qini curve, {data.name} (held-out 30%)"),
                    folder / "qini.png")  # fmt: skip
        out.print(f"wrote {path}", markup=False)


def _train_ledger(
    offer: str | None, method: str, outcome: str, window_days: int, lookback_days: int,
    min_per_arm: int, bootstrap: int, seed: int, thresholds: Any, folder: Path | None,
    archive: Path | None = None,
) -> None:  # fmt: skip
    from ..service.errors import ServiceError
    from ..service.uplift import service
    from .service import open_database

    db = open_database()
    try:
        with progress() as bar:
            task = bar.add_task("training per offer", total=None)
            training = service.prepare(
                db, offer=offer, method=method, outcome=outcome, window_days=window_days,
                lookback_days=lookback_days, min_per_arm=min_per_arm, n_bootstrap=bootstrap,
                seed=seed, thresholds=thresholds, archive_dir=archive,
                progress=lambda o: bar.update(task, description=f"training {o}"),
            )  # fmt: skip
        with db.transaction() as session:
            done = service.store(session, training)
    except ServiceError as exc:
        fail(_service_message(exc))
    finally:
        db.dispose()
    note = archive_note(training.archived, training.unread)
    if note:
        out.print(note, markup=False)
    table = Table(title=f"uplift models from the ledger ({method}, outcome {outcome})")
    for column in ("offer", "treated", "control", "Qini (held out)", "mean τ", "result"):
        table.add_column(column)
    for m in done["models"]:
        qini = m.get("qini")
        table.add_row(m["offer"], f"{m['treated']:,}", f"{m['control']:,}",
                      "" if qini is None else f"{qini:+.4f}",
                      f"{m['mean_tau']:+.4f}" if m.get("trained") else "",
                      m["version"] if m.get("trained") else m["reason"])  # fmt: skip
    out.print(table)
    out.print(f"scored {done['scored']:,} (customer, offer) estimates into the CATE store",
              markup=False)  # fmt: skip
    if folder is not None:
        _report_charts(folder, _read_report(offer))


def _service_message(exc: Any) -> str:
    errors = getattr(exc, "errors", None)
    if errors:
        return "; ".join(f"--{e['field'].replace('_', '-')}: {e['message']}" for e in errors)
    return str(exc.message)


@uplift_app.command("score")
def score(
    model: Annotated[Path | None, typer.Option("--model", help="A model file (.pkl).")] = None,
    data: Annotated[
        str | None,
        typer.Option(help="CSV or Parquet rows to score (with --engine spark: any Spark path)."),
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="With --data: write rows + cate (CSV/Parquet).")
    ] = None,
    treatment: Annotated[
        str | None, typer.Option(help="A column to leave out of the features, if present.")
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="local, or spark: Parquet --data (file, folder or URL) scored on "
            "Apache Spark into a Parquet folder --out, the same estimates."
        ),
    ] = "local",
    master: Master = None,
) -> None:
    """Score rows with a model file (a ``cate`` column), or, without --data, every customer
    into the CATE store with each offer's live model."""
    check_engine(engine, master)
    if data is None:
        if model is not None or out_file is not None:
            fail("--model and --out: only with --data (the ledger's models score the CATE store)")
        if engine == "spark":
            fail("--engine spark: only with --data and --out (Parquet)")
        _score_store()
        return
    if model is None or out_file is None:
        fail("--model and --out: both are needed with --data")
    if engine == "spark":
        _score_on_spark(model, data, str(out_file), treatment, master)
        return
    _score_file(model, Path(data), out_file, treatment)


def _score_file(model: Path, data: Path, out_file: Path, treatment: str | None) -> None:
    _check_data_file(data, "--data", compressed=True)
    _check_data_file(out_file, "--out")
    from ..jobs.uplift import UpliftDataError, UpliftModel, read_table, write_scores

    try:
        bundle = UpliftModel.load(model)
        columns = read_table(data)
        features = {k: v for k, v in columns.items() if k != treatment}
        scores = bundle.score(features)
        written = write_scores(columns, scores, out_file)
    except UpliftDataError as exc:
        fail(f"{exc.field}: {exc.message}")
    except OSError as exc:
        fail(f"--out: cannot write {str(out_file)!r}: {exc}")
    out.print(f"scored {written:,} rows (mean cate {scores.tau.mean():+.4f}) into {out_file}",
              markup=False)  # fmt: skip


def _score_on_spark(
    model: Path, data: str, out_file: str, treatment: str | None, master: str | None
) -> None:
    from ..jobs.spark.session import SparkUnavailable, spark_session
    from ..jobs.spark.uplift import score_parquet
    from ..jobs.uplift import UpliftDataError, UpliftModel

    if not out_file.lower().endswith((".parquet", ".pq")):
        fail(f"--out: expected a .parquet folder with --engine spark, got {out_file!r}")
    if "://" not in data and not Path(data).exists():
        fail(f"--data: no such file or folder {data!r}")
    try:
        bundle = UpliftModel.load(model)
        spark = spark_session(master)
        with progress() as bar:
            bar.add_task("scoring on Spark", total=None)
            written = score_parquet(spark, bundle, data, out_file, treatment=treatment)
    except SparkUnavailable as exc:
        fail(f"--engine spark: {exc.message}")
    except UpliftDataError as exc:
        fail(f"{exc.field}: {exc.message}")
    out.print(f"scored {written:,} rows on Spark into {out_file}", markup=False)


def _score_store() -> None:
    from ..service.uplift import estimates
    from .service import open_database

    db = open_database()
    try:
        with progress() as bar, db.transaction() as session:
            bar.add_task("scoring customers with the live models", total=None)
            written = estimates.score_customers(session)
    finally:
        db.dispose()
    if not written:
        fail("no uplift model is stored yet: run nextoffer uplift train first")
    out.print(f"scored {written:,} (customer, offer) estimates into the CATE store", markup=False)


def _read_report(offer: str | None) -> Report:
    from ..service.errors import ServiceError
    from ..service.uplift import service
    from .service import open_database

    db = open_database()
    try:
        with db.read() as session:
            return service.report(session, offer)
    except ServiceError as exc:
        fail(exc.message)
    finally:
        db.dispose()


def _report_charts(folder: Path, report: Report) -> None:
    from ..charts import qini_figure, save, segment_figure

    for o in report["offers"]:
        if o["evaluation"].get("evaluated"):
            fig = qini_figure(o["evaluation"]["curve"], f"Qini curve: {o['offer']} (held-out 30%)")
            path = save(fig, folder / f"qini-{o['offer']}.png")
            out.print(f"wrote {path}", markup=False)
    if report["offers"]:
        mix = {o["offer"]: o["segments"] for o in report["offers"]}
        path = save(segment_figure(mix, "uplift segments per offer"), folder / "segments.png")
        out.print(f"wrote {path}", markup=False)


@uplift_app.command("report")
def report(
    offer: Annotated[str | None, typer.Option(help="Only this offer.")] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Also write it here: CSV, or JSON (.json).")
    ] = None,
    charts: Charts = None,
) -> None:
    """Each offer's live model: evaluation (Qini, AUUC, uplift@30%, calibration) and the
    segment mix of its scored customers."""
    check_table_file(out_file)
    folder = charts_dir(charts)
    result = _read_report(offer)
    if not result["offers"]:
        fail("no uplift model is stored yet: run nextoffer uplift train first")
    rows = []
    for o in result["offers"]:
        e = o["evaluation"]
        _print_model(f"{o['offer']}: {o['method']}, {o['version']}", e)
        mix = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in o["segments"].items())
        out.print(f"segments: {mix}\n", markup=False)
        rows.append({
            "offer": o["offer"], "version": o["version"], "method": o["method"],
            "treated": o["treated"], "control": o["control"],
            "qini": e.get("qini", {}).get("nextoffer"), "qini_causalml": e.get("qini", {}).get("causalml"),
            "auuc": e.get("auuc", {}).get("nextoffer"), "uplift_at_30": e.get("uplift_at_30"),
            "mean_tau": e["mean_tau"], **{f"segment_{k}": v for k, v in o["segments"].items()},
        })  # fmt: skip
    if out_file is not None:
        write_table(out_file, rows, list(rows[0]), dict(result))
        out.print(f"wrote {len(rows)} offers to {out_file}", markup=False)
    if folder is not None:
        _report_charts(folder, result)


@experiments_app.command("list")
def list_experiments() -> None:
    """The experiments the ledger's decisions name (holdouts), and the strategy
    experiments (champion / challenger) with their status."""
    from ..service.experiments import service
    from ..service.strategy_experiments import service as strategies
    from .service import open_database

    db = open_database()
    try:
        with db.read() as session:
            found = service.list_experiments(session)
            splits = strategies.list_experiments(session)
    finally:
        db.dispose()
    table = Table(title="experiments")
    for column in ("experiment", "decisions", "in control", "first", "last"):
        table.add_column(column)
    for e in found:
        table.add_row(e["experiment"], f"{e['decisions']:,}", f"{e['control_decisions']:,}",
                      e["first"], e["last"])  # fmt: skip
    out.print(table)
    if splits:
        table = Table(title="strategy experiments")
        for column in ("experiment", "status", "channels", "arms", "proposed by", "started"):
            table.add_column(column)
        for x in splits:
            arms = ", ".join(f"{a['name']} {100 * a['share']:g}%" for a in x["definition"]["arms"])
            table.add_row(x["id"], x["status"], ", ".join(x["definition"]["channels"]), arms,
                          x["proposer"], x["started_at"] or "")  # fmt: skip
        out.print(table)


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def experiment_report(
    experiment: Annotated[str, typer.Argument(help="The experiment (e.g. the holdout's id).")],
    window_days: Window = 30,
    lookback_days: Lookback = 90,
    min_per_arm: Annotated[int, typer.Option(help="Fewer customers per arm: flagged.")] = 50,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Also write it here: CSV, or JSON (.json).")
    ] = None,
    charts: Charts = None,
) -> None:
    """A holdout's treatment against its control, overall and per offer, with tests and
    intervals (``nextoffer experiments report``, for an experiment that is not a strategy
    experiment: ``cli/experiments.py``)."""
    from ..service.errors import ServiceError
    from ..service.experiments import service
    from .service import open_database

    check_table_file(out_file)
    folder = charts_dir(charts)
    db = open_database()
    try:
        with db.read() as session:
            result = service.report(session, experiment, window_days=window_days,
                                    lookback_days=lookback_days, min_per_arm=min_per_arm)  # fmt: skip
    except ServiceError as exc:
        fail(_service_message(exc))
    finally:
        db.dispose()
    rows = [("overall", result["overall"]), *result["offers"].items()]
    table = Table(title=f"experiment {experiment}: treatment vs control "
                        f"(outcomes within {window_days} days)")  # fmt: skip
    for column in ("", "treated", "control", "conv. treated (95%)", "conv. control (95%)",
                   "lift (95%)", "p", "revenue / customer (Welch 95%)", "incremental revenue",
                   "note"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("", "note") else "right")
    for label, c in rows:
        t, k = c["treatment"], c["control"]
        lo, hi = c["lift_interval"]
        wlo, whi = c["welch_interval"]
        table.add_row(
            label, f"{t['customers']:,}", f"{k['customers']:,}",
            f"{_pct(t['rate'])} ({_pct(t['interval'][0])}–{_pct(t['interval'][1])})",
            f"{_pct(k['rate'])} ({_pct(k['interval'][0])}–{_pct(k['interval'][1])})",
            f"{100 * c['absolute_lift']:+.2f} pp ({100 * lo:+.2f}, {100 * hi:+.2f})",
            f"{c['p_value']:.4f}",
            f"{c['incremental_revenue_per_customer']:+.2f} ({wlo:+.2f}, {whi:+.2f})",
            f"{c['incremental_revenue']:+,.0f}",
            "insufficient data" if c["insufficient_data"] else "",
        )  # fmt: skip
    out.print(table)
    if out_file is not None:
        flat = [{"segment": label, "treated": c["treatment"]["customers"],
                 "control": c["control"]["customers"], "rate_treated": c["treatment"]["rate"],
                 "rate_control": c["control"]["rate"], "absolute_lift": c["absolute_lift"],
                 "lift_low": c["lift_interval"][0], "lift_high": c["lift_interval"][1],
                 "relative_lift": c["relative_lift"], "z": c["z"], "p_value": c["p_value"],
                 "incremental_revenue_per_customer": c["incremental_revenue_per_customer"],
                 "welch_low": c["welch_interval"][0], "welch_high": c["welch_interval"][1],
                 "bootstrap_low": c["bootstrap_interval"][0],
                 "bootstrap_high": c["bootstrap_interval"][1],
                 "incremental_revenue": c["incremental_revenue"],
                 "insufficient_data": c["insufficient_data"]} for label, c in rows]  # fmt: skip
        write_table(out_file, flat, list(flat[0]), dict(result))
        out.print(f"wrote the report to {out_file}", markup=False)
    if folder is not None:
        from ..charts import lift_figure, save

        path = save(lift_figure(rows, f"{experiment}: lift in conversion"), folder / "lift.png")
        out.print(f"wrote {path}", markup=False)
