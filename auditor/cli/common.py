"""Options and helpers shared by several commands."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import typer

from auditor.errors import InputError
from auditor.reports.formats import OutputFormat
from auditor.results.vocabulary import Severity
from auditor.store import Store
from auditor.waivers import load_waivers

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


def parse_formats(values: list[str]) -> list[OutputFormat]:
    try:
        return [OutputFormat(v.lower()) for v in values]
    except ValueError:
        known = ", ".join(f.value for f in OutputFormat)
        raise InputError(f"--format: unknown format in {values} (known: {known})") from None


def check_folder(path: Path, what: str) -> None:
    """`path` is, or can be made, a folder this process may write in: checked before collecting,
    so that no scan ends with nowhere to put its result."""
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{path}: {what}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{path}: {what}: cannot write in {existing}")


def parse_severity(value: str) -> Severity:
    try:
        return Severity(value.lower())
    except ValueError:
        known = ", ".join(s.value for s in Severity)
        raise InputError(f"--fail-on: unknown severity {value!r} (known: {known})") from None


@dataclass(frozen=True)
class ComplianceOptions:
    """History, waivers and the notification summary of scheduled scans (docs/scheduling.md)."""

    store: Path | None = None
    waivers: Path | None = None
    summary_json: Path | None = None

    def check(self, rule_ids: set[str]) -> None:
        """Fail before collecting, not after an hour-long scan: waivers parse, the store can
        record and read back its last scan, the summary has a folder to go to."""
        if self.waivers is not None:
            load_waivers(self.waivers, rule_ids)
        if self.store is not None:
            with Store(self.store) as store:
                store.check_writable()
                store.check_readable()
        if self.summary_json is not None:
            if self.summary_json.is_dir() or not self.summary_json.parent.is_dir():
                raise InputError(
                    f"{self.summary_json}: --summary-json: name a file in an existing folder"
                )
            check_folder(self.summary_json.parent, "--summary-json")


STORE_OPTION = typer.Option(
    None, "--store", help="SQLite history store: record this scan, show drift and trend."
)
WAIVERS_OPTION = typer.Option(
    None, "--waivers", help="Waivers YAML: accepted risks with an owner and an expiry."
)
SUMMARY_OPTION = typer.Option(
    None, "--summary-json", help="Write only new/fixed/open counts here (for notifications)."
)
