"""Customers (pseudonymous, typed attributes) and their personal data, kept apart and erasable."""
