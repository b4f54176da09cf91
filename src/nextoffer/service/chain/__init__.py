"""The tamper-evident ledger: hash chain, signed checkpoints, verification, inclusion proofs."""
