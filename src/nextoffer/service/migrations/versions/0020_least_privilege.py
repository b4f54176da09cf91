"""PostgreSQL: what the application role needs beyond INSERT and SELECT, as two functions
that run with the owner's rights and do one thing each.

With two roles (``nextoffer db create-roles``: an owner that owns the schema and migrates,
an application role that ``serve`` and the jobs connect as), the application role owns
nothing, so it may not create tables or lock the ledger beyond what reading and inserting
take. Two things the service does need more:

- ``nextoffer_ledger_partitions(first, last)`` (revision 0014) creates the ledger's missing
  monthly partitions: ``CREATE TABLE … PARTITION OF`` needs the parent's owner. It becomes
  ``SECURITY DEFINER`` (it runs as its owner, the owner role), with a fixed ``search_path``
  (this schema, then ``pg_temp``), so that a caller's objects cannot stand in for the
  ledger's.
- ``nextoffer_settled_seq(ledger)``: the attach refresh (on ``events``) and the ledger's
  sealer (on every ledger table with a ``seq``) read the settled ``seq`` under ``LOCK TABLE
  … IN SHARE MODE`` (waiting for the inserts in flight), a lock mode that needs UPDATE,
  DELETE or TRUNCATE privilege, which the application role has not on the ledger. The
  function takes that lock on one of those tables (any other name is refused) and returns
  its largest ``seq``, nothing else, as the owner.

Neither may be run by PUBLIC: ``create-roles`` grants EXECUTE to the application role. In a
one-role setup the owner runs them, as before. SQLite: nothing (it has no roles).

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

PARTITIONS = "nextoffer_ledger_partitions(timestamptz, timestamptz)"
SETTLED = "nextoffer_settled_seq(text)"
# the ledger tables with a ``seq`` (the sealer's ``SEQ_LEDGERS``), as the function knows them
SEQ_LEDGERS = ("events", "decisions", "erasures", "audit", "journey_transitions")


def _search_path() -> str:
    schema = op.get_bind().exec_driver_sql("SELECT quote_ident(current_schema())").scalar()
    return f"{schema}, pg_temp"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    path = _search_path()
    op.execute(f"ALTER FUNCTION {PARTITIONS} SECURITY DEFINER SET search_path = {path}")
    op.execute(f"REVOKE ALL ON FUNCTION {PARTITIONS} FROM PUBLIC")
    known = ", ".join(f"'{t}'" for t in SEQ_LEDGERS)
    op.execute(
        "CREATE FUNCTION nextoffer_settled_seq(ledger text) RETURNS bigint LANGUAGE plpgsql "
        f"SECURITY DEFINER SET search_path = {path} AS $$ DECLARE newest bigint; BEGIN "
        f"IF ledger NOT IN ({known}) THEN "
        "RAISE EXCEPTION 'not a ledger table with a seq: %', ledger; END IF; "
        "EXECUTE format('LOCK TABLE %I IN SHARE MODE', ledger); "
        "EXECUTE format('SELECT coalesce(max(seq), 0) FROM %I', ledger) INTO newest; "
        "RETURN newest; END $$"
    )
    op.execute(f"REVOKE ALL ON FUNCTION {SETTLED} FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute(f"DROP FUNCTION {SETTLED}")
    op.execute(f"ALTER FUNCTION {PARTITIONS} SECURITY INVOKER RESET search_path")
    op.execute(f"GRANT EXECUTE ON FUNCTION {PARTITIONS} TO PUBLIC")
