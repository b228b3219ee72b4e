"""The options several commands share."""

from __future__ import annotations

import typer

from auditor.reports.formats import OutputFormat
from auditor.results.vocabulary import Severity

RULES_OPTION = typer.Option(
    None,
    "--rules",
    "-r",
    help="Rule files or folders to use instead of the built-in pack (repeatable).",
)
CONFIG_OPTION = typer.Option(None, "--config", "-c", help="Scan configuration (YAML).")
OUTPUT_OPTION = typer.Option(
    None, "--output", "-o", help="Folder for the reports (default: auditor-report)."
)
FORMAT_OPTION = typer.Option(
    None,
    "--format",
    "-f",
    help="Report formats (repeatable; default html and json): "
    + ", ".join(f.value for f in OutputFormat),
)
FAIL_ON_OPTION = typer.Option(
    None,
    "--fail-on",
    help="Exit 1 when a failing finding has this severity or higher (default high): "
    + ", ".join(s.value for s in Severity),
)
QUIET_OPTION = typer.Option(False, "--quiet", "-q", help="Print nothing but errors (for cron).")
INSECURE_OPTION = typer.Option(
    False, "--insecure", help="Do not validate WinRM TLS certificates (written into the report)."
)
USERNAME_OPTION = typer.Option(None, "--username", "-u", help="User name (DOMAIN\\user or UPN).")
PASSWORD_ENV_OPTION = typer.Option(
    None, "--password-env", help="Environment variable holding the password."
)
JOURNAL_OPTION = typer.Option(
    None, "--journal", help="Journal file (default: OUTPUT/journal.jsonl)."
)
RESUME_OPTION = typer.Option(None, "--resume", help="Finish the scan recorded in this journal.")
CONCURRENCY_OPTION = typer.Option(None, "--concurrency", min=1, help="Hosts collected at once.")


STORE_OPTION = typer.Option(
    None, "--store", help="SQLite history store: record this scan, show drift and trend."
)
WAIVERS_OPTION = typer.Option(
    None, "--waivers", help="Waivers YAML: accepted risks with an owner and an expiry."
)
SUMMARY_OPTION = typer.Option(
    None, "--summary-json", help="Write only new/fixed/open counts here (for notifications)."
)
