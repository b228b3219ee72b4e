"""`auditor config check`: a scan configuration checked as a scan checks it, contacting nothing."""

from __future__ import annotations

from pathlib import Path

import typer

from auditor.errors import InputError
from auditor.pipeline import plan
from auditor.pipeline.config import check_local_files, load_config

app = typer.Typer(help="Check scan configurations.", no_args_is_help=True)


@app.command("check")
def check(path: Path = typer.Argument(..., help="The scan configuration (YAML).")) -> None:
    """Every check a scan makes before collecting: keys and values, rule ids and parameters,
    report formats and folder, CA bundles, WinRM settings. Nothing is contacted and no password
    is read. Exit 0 with one line, or 2 with every problem as FILE:LINE: message."""
    config = load_config(path)
    plan.reports_plan(config, plan.Flags())
    check_local_files(config)
    rules = plan.select_rules(config)
    try:
        plan.host_settings(config, plan.Flags())
    except InputError as exc:  # the settings' own messages do not say which file they are from
        raise InputError(f"{path}: winrm: {exc}") from None
    typer.echo(f"{path}: OK ({len(rules)} rules selected; nothing contacted, no password read)")
