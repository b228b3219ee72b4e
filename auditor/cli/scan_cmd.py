"""`auditor scan ...`: evaluate rules over facts and write reports."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from auditor.cli.common import (
    FAIL_ON_OPTION,
    FORMAT_OPTION,
    OUTPUT_OPTION,
    RULES_OPTION,
    parse_formats,
    parse_severity,
)
from auditor.engine.scan import build_result, exit_code, utc_now
from auditor.facts.io import load_documents
from auditor.reports.console import print_summary
from auditor.reports.write import write_reports
from auditor.rules.pack import load_pack

app = typer.Typer(help="Scan targets (or saved facts) and write reports.", no_args_is_help=True)


@app.command("facts")
def scan_facts(
    files: list[Path] = typer.Argument(
        ..., help="Fact documents (JSON): host or domain facts, or lists of them."
    ),
    rules: list[Path] | None = RULES_OPTION,
    output: Path = OUTPUT_OPTION,
    formats: list[str] = FORMAT_OPTION,
    fail_on: str = FAIL_ON_OPTION,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors."),
) -> None:
    """Evaluate saved fact documents offline (the air-gapped path) and write reports."""
    started = utc_now()
    chosen = parse_formats(formats)
    threshold = parse_severity(fail_on)
    pack = load_pack(rules or [])
    documents = [doc for path in files for doc in load_documents(path)]
    result = build_result(
        pack,
        documents,
        command="scan facts",
        started_at=started,
        options={"fail_on": threshold.value, "inputs": [str(p) for p in files]},
    )
    written = write_reports(result, output, chosen)
    if not quiet:
        print_summary(result, written, Console())
    raise typer.Exit(int(exit_code(result, threshold)))
