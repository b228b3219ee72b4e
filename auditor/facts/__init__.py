"""Facts: the typed, immutable vocabulary collectors produce and rules read (a fact is
available with its source, or unavailable with a reason), and their versioned schemas.
It imports plumbing only."""
