"""Journeys: multi-step, multi-channel sequences a customer is enrolled in, governed and run by a scheduler."""
