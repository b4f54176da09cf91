"""Attach rates: counted from the ledger, estimated by the core, published to the engine."""
