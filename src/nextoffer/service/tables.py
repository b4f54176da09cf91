"""Every table, as SQLAlchemy Core metadata; the Alembic migrations create the same schema.

Ledger tables (``LEDGER_TABLES``) are append-only: the migrations add triggers that make the
database itself reject UPDATE and DELETE on them (and, on SQLite, an INSERT over an existing
key, which ``INSERT OR REPLACE`` would otherwise turn into a silent rewrite). ``occurred_at`` is
filled by the database server's clock (a server default the inserts never set).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles

__all__ = [
    "CONTACTS",
    "LEDGER_TABLES",
    "Contacts",
    "api_keys",
    "attach_counts",
    "audit",
    "catalog_items",
    "cate_estimates",
    "customers",
    "dashboard_sessions",
    "decisions",
    "enrollments",
    "erasures",
    "events",
    "install_settings",
    "journey_proposals",
    "journey_transitions",
    "journey_versions",
    "journeys",
    "ledger_chain",
    "ledger_checkpoints",
    "ledger_watermarks",
    "metadata",
    "outcome_types",
    "personal_data",
    "proposals",
    "rule_revisions",
    "rules",
    "snapshots",
    "strategy_experiments",
    "uplift_models",
]

metadata = sa.MetaData()
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Time = sa.DateTime(timezone=True)


def _index_where_set(name: str, column: str, *keys: str) -> sa.Index:
    """An index of the rows whose ``column`` is not NULL (partial, on both databases)."""
    where = sa.text(f"{column} IS NOT NULL")
    return sa.Index(name, *keys, postgresql_where=where, sqlite_where=where)


def _server_now() -> sa.TextClause:
    """The database server's clock, in UTC, to the microsecond (SQLite: to the millisecond)."""
    return sa.text("CURRENT_TIMESTAMP")


# A decision is a contact (for the policies' windows and caps) when it showed something
# outside a control group: a few percent of the decisions once the caps bite. The decision
# path reads only those, through a partial index on this same condition (each database
# uses the index only when the query states the condition as the index does).
CONTACTS = {
    "postgresql": "NOT control AND jsonb_array_length(shown) > 0",
    "sqlite": "NOT control AND json_array_length(shown) > 0",
}


class Contacts(sa.sql.expression.ColumnElement[bool]):
    """``CONTACTS`` in a query on ``decisions`` (alone in its FROM), for either database,
    word for word (typed as a boolean, SQLite's compiler would append ``= 1``)."""

    inherit_cache = True


@compiles(Contacts)
def _contacts(element: Contacts, compiler: Any, **kw: Any) -> str:
    return CONTACTS[compiler.dialect.name]


api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),  # the key's public prefix
    sa.Column("hash", sa.String(64), nullable=False),  # sha256 of the whole key
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("label", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("revoked_at", Time),  # NULL: not revoked
    sa.Column("expires_at", Time),  # NULL: never expires
    sa.Column("last_used_at", Time),  # written by each worker at most once a minute per key
)

# a signed-in dashboard: the SHA-256 of the cookie's random session id, never the id itself
dashboard_sessions = sa.Table(
    "dashboard_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column(
        "key_id", sa.String(32), sa.ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("expires_at", Time, nullable=False),
    sa.Index("ix_dashboard_sessions_key", "key_id"),
    sa.Index("ix_dashboard_sessions_expires", "expires_at"),
)

catalog_items = sa.Table(
    "catalog_items",
    metadata,
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("body", JSON, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

snapshots = sa.Table(
    "snapshots",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("version", sa.String(200), nullable=False, unique=True),
    sa.Column("spec", JSON, nullable=False),
    sa.Column("published_at", Time, nullable=False),
)

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("attributes", JSON, nullable=False),
    sa.Column("holdings", JSON, nullable=False),
    sa.Column("segments", JSON, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

personal_data = sa.Table(
    "personal_data",
    metadata,
    sa.Column("customer_id", sa.String(200), primary_key=True),
    sa.Column("name", sa.String(500)),
    sa.Column("email", sa.String(500)),
    sa.Column("phone", sa.String(100)),
    sa.Column("attributes", JSON),  # the customer schema's personal attributes
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("erase_after", Time, nullable=False),
    sa.Index("ix_personal_data_erase_after", "erase_after"),
)

outcome_types = sa.Table(
    "outcome_types",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("classification", sa.String(16), nullable=False),
    sa.Column("payload", JSON),  # the declared payload fields: {"reason_code": "string"}
    sa.Column("created_at", Time, nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    # ``client:key`` (the sender's API key id, then its key); before revision 0006, the key
    # alone (``client`` NULL)
    sa.Column("idempotency_key", sa.String(240), nullable=False, unique=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("customer_id", sa.String(200)),
    sa.Column("session_id", sa.String(200)),
    sa.Column("decision_id", sa.String(36)),
    sa.Column("offer_id", sa.String(200)),
    sa.Column("channel", sa.String(200)),
    sa.Column("placement", sa.String(200)),
    sa.Column("value", sa.Float),
    sa.Column("payload", JSON, nullable=False),
    sa.Column("reported_at", Time),
    sa.Column("occurred_at", Time, nullable=False, server_default=_server_now()),
    sa.Column("client", sa.String(32)),  # the API key id that sent it
    sa.Column("body_hash", sa.String(64)),  # SHA-256 of the event as received
    # names a decision that showed its offer to its customer; unattributed outcomes are
    # stored and never counted
    sa.Column("attributed", sa.Boolean, nullable=False, server_default=sa.true()),
    # what the attach refresh needs of the named decision, recorded when the event is
    # written (revision 0017; NULL on older rows): the decision's time, and the rule that
    # nominated the event's offer in it ("" none; attributed events about an offer)
    sa.Column("decision_at", Time),
    sa.Column("rule_id", sa.String(200)),
    sa.Index("ix_events_customer_time", "customer_id", "occurred_at"),
    sa.Index("ix_events_decision", "decision_id"),
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    # ``client:key`` (the sender's API key id, then its key); before revision 0010, the key
    # alone; NULL without a key
    sa.Column("idempotency_key", sa.String(240), unique=True),
    sa.Column("customer_id", sa.String(200)),
    sa.Column("session_id", sa.String(200)),
    sa.Column("channel", sa.String(200), nullable=False),
    sa.Column("snapshot_version", sa.String(200), nullable=False),
    sa.Column("control", sa.Boolean, nullable=False),
    sa.Column("experiment", sa.String(200)),
    sa.Column("shown", JSON, nullable=False),  # offer ids shown, in order
    sa.Column("request", JSON, nullable=False),
    sa.Column("decision", JSON, nullable=False),  # placements, counterfactual, rules, probabilities
    sa.Column("trace", JSON),  # null when trace detail was sampled out
    # the customer as the engine saw them (attributes, holdings, segments): uplift features
    sa.Column("features", JSON),
    sa.Column("occurred_at", Time, nullable=False, server_default=_server_now()),
    # SHA-256 of the request as validated, when it came with a key (revision 0010)
    sa.Column("body_hash", sa.String(64)),
    # the strategy experiment and its arm that decided it (revision 0012); NULL outside one
    # (``experiment`` stays the holdout's, which its report selects by)
    sa.Column("strategy_experiment", sa.String(200)),
    sa.Column("arm", sa.String(200)),
    sa.Index("ix_decisions_customer_time", "customer_id", "occurred_at"),
    sa.Index(
        "ix_decisions_contacts",
        "customer_id",
        "occurred_at",
        postgresql_where=sa.text(CONTACTS["postgresql"]),
        sqlite_where=sa.text(CONTACTS["sqlite"]),
    ),
    _index_where_set(
        "ix_decisions_strategy_experiment",
        "strategy_experiment",
        "strategy_experiment",
        "occurred_at",
    ),
)

erasures = sa.Table(
    "erasures",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("customer_id", sa.String(200), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),  # retention | request
    sa.Column("occurred_at", Time, nullable=False, server_default=_server_now()),
)

rules = sa.Table(
    "rules",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("live_revision", sa.Integer),  # null: the rule is inactive
    sa.Column("stats", JSON),  # the latest mining statistics, updated by re-mining
    sa.Column("created_at", Time, nullable=False),
)

rule_revisions = sa.Table(
    "rule_revisions",
    metadata,
    sa.Column("rule_id", sa.String(200), primary_key=True),
    sa.Column("revision", sa.Integer, primary_key=True),
    sa.Column("trigger", JSON, nullable=False),  # the condition's JSON form
    sa.Column("text", sa.Text, nullable=False),  # its canonical text, for people and diffs
    sa.Column("offers", JSON, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("source", JSON, nullable=False),  # where it came from: a proposal, a restore, ...
    sa.Column("created_at", Time, nullable=False),
)

proposals = sa.Table(
    "proposals",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),  # trigger + offers
    sa.Column("rule_id", sa.String(200), nullable=False),
    sa.Column("trigger", JSON, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("offers", JSON, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("stats", JSON),
    sa.Column("status", sa.String(16), nullable=False),  # open | approved | rejected
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("details", JSON, nullable=False),
    sa.Column("occurred_at", Time, nullable=False, server_default=_server_now()),
    sa.Index("ix_audit_subject", "subject", "seq"),
)

# what an admin sets for the whole install (self-approval), in the database: no client of the
# install can change it for itself (a command line reads it here, not from its environment)
install_settings = sa.Table(
    "install_settings",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", JSON, nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

LEDGER_TABLES = (
    "events", "decisions", "erasures", "audit", "rule_revisions", "journey_versions",
    "journey_transitions",
)  # fmt: skip

attach_counts = sa.Table(
    "attach_counts",
    metadata,
    sa.Column("offer_id", sa.String(200), primary_key=True),
    sa.Column("rule_id", sa.String(200), primary_key=True),  # "" when no rule nominated it
    sa.Column("channel", sa.String(200), primary_key=True),
    sa.Column("shown", sa.BigInteger, nullable=False),  # max(impressions, accepted)
    sa.Column("accepted", sa.BigInteger, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    # showings with an impression (revision 0013), to add new ledger rows to
    sa.Column("impressions", sa.BigInteger, nullable=False, server_default="0"),
)

# for each counter kept from the ledger, the newest ledger row (``seq``) it has counted
# (revision 0013): a refresh counts only the rows after it, in the transaction that moves it
ledger_watermarks = sa.Table(
    "ledger_watermarks",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

# the ledger's hash chain (revision 0019): an entry per sealed row of each ledger table, in
# the order sealed (``n`` from 1); ``seq`` is the row's (keyed tables: ``n``, the key in
# ``row_key``); digest and hash as ``nextoffer.core.chain`` makes them. Append-only.
ledger_chain = sa.Table(
    "ledger_chain",
    metadata,
    sa.Column("ledger", sa.String(64), primary_key=True),
    sa.Column("n", sa.BigInteger, primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("row_key", sa.Text),
    sa.Column("digest", sa.LargeBinary, nullable=False),
    sa.Column("hash", sa.LargeBinary, nullable=False),
    # entry n = k * CHUNK: the root of the Merkle subtree of its chunk (revision 0021)
    sa.Column("chunk_root", sa.LargeBinary),
    sa.UniqueConstraint("ledger", "seq", name="uq_ledger_chain_seq"),
    _index_where_set("ix_ledger_chain_chunks", "chunk_root", "ledger", "n"),
)

# every signed checkpoint (revision 0019): the signed text, as in the checkpoint directory,
# and each tree's perfect subtrees' roots (not signed), from which the next one grows
ledger_checkpoints = sa.Table(
    "ledger_checkpoints",
    metadata,
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("signed", sa.Text, nullable=False),
    sa.Column("signature", sa.String(128), nullable=False),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("frontier", JSON, nullable=False),
    sa.Column("created_at", Time, nullable=False),
)

uplift_models = sa.Table(
    "uplift_models",
    metadata,
    sa.Column("version", sa.String(200), primary_key=True),
    sa.Column("offer_id", sa.String(200), nullable=False),
    sa.Column("method", sa.String(32), nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),  # conversion | value
    sa.Column("treated", sa.Integer, nullable=False),
    sa.Column("control", sa.Integer, nullable=False),
    sa.Column("report", JSON, nullable=False),  # evaluation: Qini, AUUC, calibration, curve
    sa.Column("model", sa.LargeBinary, nullable=False),  # the encoder and learner (skops)
    sa.Column("trained_at", Time, nullable=False),
    sa.Index("ix_uplift_models_offer_time", "offer_id", "trained_at"),
)

cate_estimates = sa.Table(
    "cate_estimates",
    metadata,
    sa.Column("customer_id", sa.String(200), primary_key=True),
    sa.Column("offer_id", sa.String(200), primary_key=True),
    sa.Column("tau", sa.Float, nullable=False),
    sa.Column("lower", sa.Float),
    sa.Column("upper", sa.Float),
    sa.Column("base_rate", sa.Float, nullable=False),
    sa.Column("segment", sa.String(32), nullable=False),
    sa.Column("model_version", sa.String(200), nullable=False),
    sa.Column("scored_at", Time, nullable=False),
)

# -- journeys: versioned definitions under four eyes, one enrollment per (journey, customer),
# every transition a ledger row (append-only; rebuilding an enrollment from its transitions
# gives its stored state)

journeys = sa.Table(
    "journeys",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("live_version", sa.Integer),  # null: no version is live (new entries stop)
    sa.Column("created_at", Time, nullable=False),
)

journey_versions = sa.Table(
    "journey_versions",
    metadata,
    sa.Column("journey_id", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("definition", JSON, nullable=False),  # as validated, without defaults
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("source", JSON, nullable=False),  # a proposal and its approver, or a restore
    sa.Column("created_at", Time, nullable=False),
)

journey_proposals = sa.Table(
    "journey_proposals",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("journey_id", sa.String(200), nullable=False),
    sa.Column("definition", JSON, nullable=False),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open | approved | rejected
    sa.Column("reviewer", sa.String(200)),
    sa.Column("review_reason", sa.Text),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Index("ix_journey_proposals_journey", "journey_id", "status"),
)

# the current state of each (journey, customer): what the transitions add up to, kept for
# the drivers (due waits by ``due_at``; events by customer)
enrollments = sa.Table(
    "enrollments",
    metadata,
    sa.Column("journey_id", sa.String(200), primary_key=True),
    sa.Column("customer_id", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # active | exited | holdout | ...
    sa.Column("step", sa.String(200)),
    sa.Column("due_at", Time),  # when a tick next has something to do; null: nothing
    sa.Column("state", JSON, nullable=False),  # the core's enrollment state
    sa.Column("transitions", sa.Integer, nullable=False),  # how many it has: the next one's n
    sa.Column("updated_at", Time, nullable=False),
    sa.Index("ix_enrollments_customer", "customer_id"),
    sa.Index(
        "ix_enrollments_due",
        "due_at",
        postgresql_where=sa.text("due_at IS NOT NULL"),
        sqlite_where=sa.text("due_at IS NOT NULL"),
    ),
)

journey_transitions = sa.Table(
    "journey_transitions",
    metadata,
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("journey_id", sa.String(200), nullable=False),
    sa.Column("customer_id", sa.String(200), nullable=False),
    # the transition's number in this (journey, customer)'s history: unique, so that two
    # drivers racing on one enrollment can never both record its next step
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("from_step", sa.String(200)),
    sa.Column("to_step", sa.String(200)),
    sa.Column("reason", sa.Text),
    sa.Column("decision_id", sa.String(36)),
    sa.Column("event_id", sa.String(36)),
    sa.Column("at", Time, nullable=False),  # when it happened in the journey's time
    sa.Column("record", JSON, nullable=False),  # the transition as the core replays it
    sa.Column("occurred_at", Time, nullable=False, server_default=_server_now()),
    sa.UniqueConstraint("journey_id", "customer_id", "n", name="uq_journey_transitions_n"),
    sa.Index("ix_journey_transitions_journey", "journey_id", "seq"),
)

# -- strategy experiments: a split of customers among arms (strategies or snapshots) on some
# channels, proposed by an author, started, stopped and promoted by an approver (four eyes);
# every action is also written to the audit log

strategy_experiments = sa.Table(
    "strategy_experiments",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("definition", JSON, nullable=False),  # as validated, without defaults
    # proposed | running | stopped | promoted | withdrawn
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("proposer", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("started_by", sa.String(200)),
    sa.Column("started_at", Time),
    sa.Column("started_seq", sa.BigInteger),  # the ledger's last decision when it started
    sa.Column("stopped_by", sa.String(200)),
    sa.Column("stopped_at", Time),
    sa.Column("stopped_seq", sa.BigInteger),  # ... and when it stopped
    sa.Column("stop_reason", sa.Text),
    sa.Column("promoted_by", sa.String(200)),
    sa.Column("promoted_at", Time),
    sa.Column("promotion_reason", sa.Text),
    sa.Column("promoted_arm", sa.String(200)),
    sa.Column("promoted_version", sa.String(200)),  # the snapshot the promotion published
    sa.Column("updated_at", Time, nullable=False),
    sa.Index("ix_strategy_experiments_status", "status"),
)
