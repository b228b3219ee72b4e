"""auditor: configuration auditing for Windows remote access and authentication."""

__version__ = "0.1.0"
