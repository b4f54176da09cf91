"""The dashboard: sign-in, proposals, rules, catalog, decisions, results and overview pages."""
