"""PostgreSQL: the ledger's decisions, events and journey transitions partitioned by time.

Each of the three becomes a table partitioned by range of ``occurred_at`` (declarative
partitioning), one partition a month (``decisions_p2026_12``: from the 1st, 00:00 UTC, to
the next 1st). The function ``nextoffer_ledger_partitions(first, last)`` creates the
partitions of every month from ``first`` to ``last`` that are missing; this migration
creates those of the existing rows through next month, and the service creates the current
and next month's at start-up and every hour (``ledger.service.keep_partitions``). A row
whose month has no partition is refused (no default partition: rows in one would stop its
month's partition from ever being created, and the ledger's rows cannot be moved).

The guarantees hold on every partition:

- Append-only: the row triggers (UPDATE, DELETE) are the partitioned table's, which
  PostgreSQL clones onto every partition, present and future; TRUNCATE (a statement
  trigger, not cloned) gets its trigger on each partition as the function creates it.
- Unique keys: a unique index of a partitioned table must include the partition key, so
  ``seq``, ``id``, ``idempotency_key`` and journey transitions' ``(journey_id, customer_id,
  n)`` could no longer be unique across the ledger. They are kept unique, over the whole history, by a
  key table each (``events_keys``, ``decisions_keys``, ``journey_transitions_keys``; not
  partitioned, append-only) that a BEFORE INSERT trigger on the ledger table writes to in
  the same statement. A duplicate ``seq``, ``id`` or journey transition number fails the statement
  (unique violation, as before). A row whose idempotency key is in the key table already is
  not written (the trigger returns no row), as ``ON CONFLICT (idempotency_key) DO NOTHING``
  did: concurrent retries wait for each other on the key table's unique index and exactly
  one row is written. The keys stay when old partitions are archived and detached: a retry
  of an archived event is still recognised.
- ``seq`` keeps its sequence (and its values); the primary key is ``(seq, occurred_at)``.

Existing rows are copied into the partitioned tables (their keys into the key tables) and
the old tables dropped, in the migration's transaction. SQLite: nothing changes.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

PARTITIONED = ("decisions", "events", "journey_transitions")

# each table's key table: its columns, the unique constraints and what the trigger does
KEY_TABLES = {
    "events": (
        "idempotency_key varchar(240) PRIMARY KEY, id varchar(36) NOT NULL UNIQUE, "
        "seq bigint NOT NULL UNIQUE",
        "INSERT INTO events_keys (idempotency_key, id, seq) "
        "VALUES (NEW.idempotency_key, NEW.id, NEW.seq) "
        "ON CONFLICT (idempotency_key) DO NOTHING; "
        "IF NOT FOUND THEN RETURN NULL; END IF;",
    ),
    "decisions": (
        "id varchar(36) PRIMARY KEY, idempotency_key varchar(240) UNIQUE, "
        "seq bigint NOT NULL UNIQUE",
        "INSERT INTO decisions_keys (id, idempotency_key, seq) "
        "VALUES (NEW.id, NEW.idempotency_key, NEW.seq) "
        "ON CONFLICT (idempotency_key) DO NOTHING; "
        "IF NOT FOUND THEN RETURN NULL; END IF;",
    ),
    "journey_transitions": (
        "journey_id varchar(200), customer_id varchar(200), n integer, "
        "seq bigint NOT NULL UNIQUE, PRIMARY KEY (journey_id, customer_id, n)",
        "INSERT INTO journey_transitions_keys (journey_id, customer_id, n, seq) "
        "VALUES (NEW.journey_id, NEW.customer_id, NEW.n, NEW.seq);",
    ),
}

# the indexes of each table (the unique ones are the key tables'), as before this revision,
# with lookups by id and by idempotency key
INDEXES = {
    "decisions": [
        "CREATE INDEX ix_decisions_customer_time ON decisions (customer_id, occurred_at)",
        "CREATE INDEX ix_decisions_contacts ON decisions (customer_id, occurred_at) "
        "WHERE NOT control AND jsonb_array_length(shown) > 0",
        "CREATE INDEX ix_decisions_strategy_experiment ON decisions "
        "(strategy_experiment, occurred_at) WHERE strategy_experiment IS NOT NULL",
        "CREATE INDEX ix_decisions_id ON decisions (id)",
        "CREATE INDEX ix_decisions_idempotency_key ON decisions (idempotency_key)",
    ],
    "events": [
        "CREATE INDEX ix_events_customer_time ON events (customer_id, occurred_at)",
        "CREATE INDEX ix_events_decision ON events (decision_id)",
        "CREATE INDEX ix_events_id ON events (id)",
        "CREATE INDEX ix_events_idempotency_key ON events (idempotency_key)",
    ],
    "journey_transitions": [
        "CREATE INDEX ix_journey_transitions_journey ON journey_transitions (journey_id, seq)",
        "CREATE INDEX ix_journey_transitions_n ON journey_transitions (journey_id, customer_id, n)",
    ],
}

MAKE_PARTITIONS = """
CREATE FUNCTION nextoffer_ledger_partitions(first timestamptz, last timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    ledger text;
    month timestamp;
    name text;
    made integer := 0;
BEGIN
    -- one caller at a time (several workers start together)
    PERFORM pg_advisory_xact_lock(hashtext('nextoffer_ledger_partitions'));
    FOREACH ledger IN ARRAY ARRAY['decisions', 'events', 'journey_transitions'] LOOP
        month := date_trunc('month', first AT TIME ZONE 'UTC');
        WHILE month <= last AT TIME ZONE 'UTC' LOOP
            name := ledger || '_p' || to_char(month, 'YYYY_MM');
            IF to_regclass(name) IS NULL THEN
                EXECUTE format(
                    'CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                    name, ledger, month AT TIME ZONE 'UTC',
                    (month + interval '1 month') AT TIME ZONE 'UTC');
                EXECUTE format(
                    'CREATE TRIGGER %I BEFORE TRUNCATE ON %I '
                    'FOR EACH STATEMENT EXECUTE FUNCTION nextoffer_append_only()',
                    name || '_no_truncate', name);
                made := made + 1;
            END IF;
            month := month + interval '1 month';
        END LOOP;
    END LOOP;
    RETURN made;
END $$
"""


def _append_only(table: str) -> None:
    op.execute(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION nextoffer_append_only()"
    )
    op.execute(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION nextoffer_append_only()"
    )


def _sequence(table: str) -> str:
    name = op.get_bind().exec_driver_sql(f"SELECT pg_get_serial_sequence('{table}', 'seq')")
    found = name.scalar()
    assert found, f"{table}.seq has no sequence"
    return str(found)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute(MAKE_PARTITIONS)
    for table, (columns, claim) in KEY_TABLES.items():
        op.execute(f"CREATE TABLE {table}_keys ({columns})")
        _append_only(f"{table}_keys")
        op.execute(
            f"CREATE FUNCTION nextoffer_{table}_keys() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {claim} RETURN NEW; END $$"
        )
    for table in PARTITIONED:
        sequence = _sequence(table)
        op.execute(f"ALTER TABLE {table} RENAME TO {table}_unpartitioned")
        op.execute(
            f"CREATE TABLE {table} (LIKE {table}_unpartitioned INCLUDING DEFAULTS) "
            "PARTITION BY RANGE (occurred_at)"
        )
        op.execute(f"ALTER SEQUENCE {sequence} OWNED BY {table}.seq")
    # the months of the rows there are, through next month
    firsts = " UNION ALL ".join(f"SELECT min(occurred_at) AS t FROM {t}_unpartitioned"
                                for t in PARTITIONED)  # fmt: skip
    op.execute(
        f"SELECT nextoffer_ledger_partitions(coalesce((SELECT min(t) FROM ({firsts}) AS f), "
        "now()), now() + interval '1 month')"
    )
    for table in PARTITIONED:
        op.execute(
            f"CREATE TRIGGER {table}_keys BEFORE INSERT ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION nextoffer_{table}_keys()"
        )
        _append_only(table)
        op.execute(f"INSERT INTO {table} SELECT * FROM {table}_unpartitioned ORDER BY seq")
        op.execute(f"DROP TABLE {table}_unpartitioned")
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (seq, occurred_at)"
        )
        for index in INDEXES[table]:
            op.execute(index)


# as the tables were before this revision (0001, 0006, 0010, 0011, 0012)
UNIQUE = {
    "decisions": ["UNIQUE (id)", "UNIQUE (idempotency_key)"],
    "events": ["UNIQUE (id)", "UNIQUE (idempotency_key)"],
    "journey_transitions": ["CONSTRAINT uq_journey_transitions_n UNIQUE (journey_id, customer_id, n)"],
}  # fmt: skip
OLD_INDEXES = {
    "decisions": INDEXES["decisions"][:3],
    "events": INDEXES["events"][:2],
    "journey_transitions": INDEXES["journey_transitions"][:1],
}


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table in PARTITIONED:
        sequence = _sequence(table)
        op.execute(f"CREATE TABLE {table}_flat (LIKE {table} INCLUDING DEFAULTS)")
        op.execute(f"INSERT INTO {table}_flat SELECT * FROM {table} ORDER BY seq")
        op.execute(f"ALTER SEQUENCE {sequence} OWNED BY {table}_flat.seq")
        op.execute(f"DROP TABLE {table}")  # with its partitions
        op.execute(f"ALTER TABLE {table}_flat RENAME TO {table}")
        op.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (seq)")
        for constraint in UNIQUE[table]:
            op.execute(f"ALTER TABLE {table} ADD {constraint}")
        for index in OLD_INDEXES[table]:
            op.execute(index)
        _append_only(table)
        op.execute(f"DROP TABLE {table}_keys")
        op.execute(f"DROP FUNCTION nextoffer_{table}_keys()")
    op.execute("DROP FUNCTION nextoffer_ledger_partitions(timestamptz, timestamptz)")
