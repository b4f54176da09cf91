"""Experiments: holdout and champion/challenger reports from the ledger."""
