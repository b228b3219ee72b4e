"""Results: what a scan concluded per rule and target, with score, history, drift and merge;
read and written as the versioned JSON result document. It imports plumbing only."""
