"""Themed contests: stored, scored entries, judges' votes, and a suggested ranking with uncertainty."""
