"""Mining and the store: the ledger's conversions as transactions, and mined rules into the
governance workflow as proposals (the plain-data work is ``jobs.mining``'s)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ...core.learning.mining import MiningResult
from ...core.learning.significance import Significance
from ...jobs.mining import Examples, examples_in, offers_by_sku, proposals_for, transactions_of
from ...jobs.transactions import Filters, Transactions
from ..archive import service as archive
from ..errors import validated
from ..ledger import repository as ledger
from ..snapshots import service as snapshots
from .schemas import ProposalIn
from .service import propose

__all__ = ["CONVERSION_COLUMNS", "ledger_transactions", "propose_rules"]

CONVERSION_COLUMNS = ("seq", "id", "session_id", "offer_id", "payload")


def propose_rules(
    session: Session,
    actor: str,
    data: Transactions | tuple[str, Examples],
    result: MiningResult,
    significance: Significance,
) -> dict[str, int]:
    """Propose every significant rule of ``result``; returns what happened, by count.
    ``data``: the transactions mined (in memory), or where baskets mined elsewhere (on
    Spark) came from and how to find example baskets among them."""
    source, examples = (
        (data.source, examples_in(result, data)) if isinstance(data, Transactions) else data
    )
    by_sku = offers_by_sku(snapshots.catalog_offers(session))
    found, significant, no_offer = proposals_for(result, significance, source, examples, by_sku)
    counts = {"significant": significant, "created": 0, "updated": 0, "no_offer": no_offer}
    for proposal in found:
        done = propose(session, actor, validated(ProposalIn, proposal))
        counts["updated" if done["updated"] else "created"] += 1
    return counts


def ledger_transactions(
    session: Session, filters: Filters | None = None, archived: archive.ArchiveView | None = None
) -> Transactions:
    """Baskets from the ledger's convert events: a checkout's listed items, or the skus the
    offers of one session's conversions sell; with ``archived``, the archive's convert events
    too (all of them, in ``seq`` order with the hot ones: as if never archived)."""
    sku = {str(o["id"]): str(o.get("sku") or o["id"]) for o in snapshots.catalog_offers(session)}
    rows = ledger.conversions(session)
    if archived is not None:
        old = archive.archived_rows(archived, "events", CONVERSION_COLUMNS,
                                    where=[("type", "==", "convert")])  # fmt: skip
        rows = archive.merged(archived, old, rows)
    return transactions_of(rows, sku, filters)
