"""Outbound campaigns: one decision for every customer of a list or segment."""
