"""auditor: configuration auditing for Windows remote access and authentication.

Its packages are layers, each importing only its own and those below (tests/unit/test_layers.py):
plumbing with `wire`; `facts`; `results`; `rules` with `engine`; `collectors`, `reports` and
`store`; the scan's orchestration; `cli`. The `lab` stands apart (docs/architecture.md).
"""

__version__ = "0.1.0"
