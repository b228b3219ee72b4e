"""Options and helpers shared by several commands."""

from __future__ import annotations

from pathlib import Path

import typer

from auditor.errors import InputError
from auditor.reports.formats import OutputFormat
from auditor.rules.model import Severity

RULES_OPTION = typer.Option(
    None,
    "--rules",
    "-r",
    help="Rule files or folders to use instead of the built-in pack (repeatable).",
)
OUTPUT_OPTION = typer.Option(
    Path("auditor-report"), "--output", "-o", help="Folder for the reports."
)
FORMAT_OPTION = typer.Option(
    ["html", "json"],
    "--format",
    "-f",
    help="Report formats (repeatable): " + ", ".join(f.value for f in OutputFormat),
)
FAIL_ON_OPTION = typer.Option(
    "high",
    "--fail-on",
    help="Exit 1 when a failing finding has this severity or higher: "
    + ", ".join(s.value for s in Severity),
)


def parse_formats(values: list[str]) -> list[OutputFormat]:
    try:
        return [OutputFormat(v.lower()) for v in values]
    except ValueError:
        known = ", ".join(f.value for f in OutputFormat)
        raise InputError(f"--format: unknown format in {values} (known: {known})") from None


def parse_severity(value: str) -> Severity:
    try:
        return Severity(value.lower())
    except ValueError:
        known = ", ".join(s.value for s in Severity)
        raise InputError(f"--fail-on: unknown severity {value!r} (known: {known})") from None
