"""API keys: stored hashed, each with a role."""
