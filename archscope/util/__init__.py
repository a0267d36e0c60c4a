"""Helpers every stage shares: one-line messages and did-you-mean, number parsing, atomic file writes."""
