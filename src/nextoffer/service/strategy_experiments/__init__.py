"""Strategy experiments (champion / challenger): definitions under four eyes, the arms on
the decision path, the report per arm, and the promotion of a winning arm."""
