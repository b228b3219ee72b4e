"""The scan history store: results of scheduled scans, kept for drift and trends.

It imports results and plumbing only."""

from auditor.store.scans import ScanSummary, Store

__all__ = ["ScanSummary", "Store"]
