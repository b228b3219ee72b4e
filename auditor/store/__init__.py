"""The scan history store: results of scheduled scans, kept for drift and trends."""

from auditor.store.scans import ScanSummary, Store

__all__ = ["ScanSummary", "Store"]
