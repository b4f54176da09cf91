"""Experiment reports from the ledger: a holdout's treatment against its control group.

Per experiment (the ledger's decisions name it) and per offer: customers are counted once,
at their first decision in the experiment within the lookback (treatment: not in the
control group; control: in it). Overall, a customer converted when a convert event for an
offer of that first decision (shown, or what the control group member would have got)
follows within the window; per offer, the units are the uplift training set's (``uplift.service.exposures``):
customers shown the offer, against control customers who would have got it. Each
comparison (``core.stats.compare``) gives conversion per arm with Wilson intervals, the
absolute and relative lift, the pooled z-test, and incremental revenue per customer and in
total with Welch and bootstrap intervals; small arms are flagged ``insufficient_data``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from ...core.stats import compare
from ..errors import InvalidInput, NotFound
from ..ledger.service import utc
from ..uplift.schemas import LOOKBACK_DAYS, WINDOW_DAYS, Exposure
from ..uplift.service import check_windows, exposures
from . import repository
from .schemas import Comparison, ExperimentRow, Report

__all__ = ["list_experiments", "report"]


def list_experiments(session: Session) -> list[ExperimentRow]:
    """Every experiment the ledger's decisions name, with their counts and time span."""
    return [
        {"experiment": name, "decisions": int(n), "control_decisions": int(control or 0),
         "first": utc(first).isoformat(), "last": utc(last).isoformat()}
        for name, n, control, first, last in repository.experiments(session)
    ]  # fmt: skip


def _comparison(units: list[Exposure], min_per_arm: int) -> Comparison:
    arms = {arm: [u for u in units if u.treated == arm] for arm in (True, False)}
    result = compare(
        [u.converted for u in arms[True]], [u.value for u in arms[True]],
        [u.converted for u in arms[False]], [u.value for u in arms[False]],
        min_per_arm=min_per_arm,
    )  # fmt: skip
    return result.to_dict()


def report(
    session: Session,
    experiment: str,
    *,
    window_days: int = WINDOW_DAYS,
    lookback_days: int = LOOKBACK_DAYS,
    min_per_arm: int = 50,
) -> Report:
    """The experiment's treatment against its control, overall and per offer."""
    errors = check_windows(window_days, lookback_days, min_per_arm)
    if errors:
        raise InvalidInput(errors)
    now = dt.datetime.now(dt.UTC)
    units = exposures(session, experiment=experiment, window_days=window_days,
                      lookback_days=lookback_days, now=now)  # fmt: skip
    if not units:
        known = ", ".join(e["experiment"] for e in list_experiments(session)) or "none yet"
        raise NotFound(f"no decisions in experiment {experiment!r} in the last "
                       f"{lookback_days} days (experiments: {known})")  # fmt: skip
    customers: dict[str, Exposure] = {}
    for u in sorted(units, key=lambda u: u.at):  # a customer's first decision, all offers
        first = customers.get(u.customer_id)
        if first is None:
            customers[u.customer_id] = Exposure(u.customer_id, "*", u.decision_id, u.at,
                                                u.treated, None, u.converted, u.value)  # fmt: skip
        elif u.decision_id == first.decision_id:
            first.converted = max(first.converted, u.converted)
            first.value += u.value
    by_offer: dict[str, list[Exposure]] = {}
    for u in units:
        by_offer.setdefault(u.offer_id, []).append(u)
    return {
        "experiment": experiment,
        "window_days": window_days,
        "lookback_days": lookback_days,
        "generated_at": now.isoformat(),
        "overall": _comparison(list(customers.values()), min_per_arm),
        "offers": {o: _comparison(us, min_per_arm) for o, us in sorted(by_offer.items())},
    }
