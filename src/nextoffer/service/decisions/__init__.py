"""Decisions: the engine behind ``POST /v1/decisions`` and ``nextoffer decide``."""
