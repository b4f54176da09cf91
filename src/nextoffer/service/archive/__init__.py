"""Ledger archives: whole old partitions written to Parquet with a manifest, then detached."""
