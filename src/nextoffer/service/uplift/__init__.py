"""Uplift: training sets from the ledger, models, the CATE store, reports."""
