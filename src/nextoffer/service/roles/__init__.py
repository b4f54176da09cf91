"""PostgreSQL roles: an owner that owns the schema and migrates, an application role that
reads and appends to the ledger and owns nothing."""
