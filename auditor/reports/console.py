"""The short summary printed after every scan."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from auditor.results.model import ScanResult, TargetStatus
from auditor.results.score import score
from auditor.results.vocabulary import Severity, Status
from auditor.terminal import visible

_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


def print_summary(result: ScanResult, written: Sequence[Path], console: Console) -> None:
    """Counts, the targets that could not be scanned and why (each on one line), the files."""
    counts = result.counts()
    failed_targets = [t for t in result.targets if t.status is TargetStatus.FAILED]
    table = Table(
        title=f"auditor: {len(result.targets)} target(s), score {score(result.results)}/100"
    )
    table.add_column("severity")
    table.add_column("failing rule×target", justify="right")
    for sev in reversed(Severity):
        table.add_row(f"[{_STYLE[sev.value]}]{sev.value}[/]", str(counts[f"fail_{sev.value}"]))
    console.print(table)
    console.print(
        f"pass {counts[Status.PASS.value]}  fail {counts[Status.FAIL.value]}  "
        f"error {counts[Status.ERROR.value]}  not applicable {counts[Status.NOT_APPLICABLE.value]}"
    )
    for target in failed_targets:
        console.print(
            f"[red]could not scan {escape(visible(target.name))}[/]: "
            f"{escape(visible(target.reason or ''))}",
            markup=True,
            highlight=False,
        )
    if result.incomplete:
        console.print("[yellow]scan incomplete: some rules could not be decided (status error)[/]")
    for path in written:
        console.print(f"wrote {path}", highlight=False)
