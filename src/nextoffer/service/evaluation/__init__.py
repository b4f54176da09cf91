"""Off-policy evaluation: what a target snapshot's strategies would have earned on the
ledger's logged decisions."""
