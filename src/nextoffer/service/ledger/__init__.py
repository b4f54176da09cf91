"""The append-only ledger: events (outcomes) and decisions, and the history read from them."""
