"""`python -m auditor` runs the command line."""

from auditor.cli.main import run

run()
