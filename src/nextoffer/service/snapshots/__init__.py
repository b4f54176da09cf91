"""Snapshots: building, checking, storing, publishing and caching them."""
