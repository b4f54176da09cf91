"""Learning from history: association-rule mining, significance, attach rates."""
