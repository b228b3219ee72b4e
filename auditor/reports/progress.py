"""The progress bar of fleet scans: hosts done, failed, remaining, rate and ETA."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from auditor.facts.model import FactDocument
from auditor.terminal import DataConsole


class _RateColumn(ProgressColumn):
    """Hosts per second (rich's speed columns speak bytes)."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:.1f} hosts/s" if task.speed else "- hosts/s")


class HostProgress:
    def __init__(self, progress: Progress | None, total: int) -> None:
        self._progress = progress
        self.failed = 0
        self._task = progress.add_task("hosts", total=total, failed=0) if progress else None

    def done(self, doc: FactDocument, info: dict[str, Any]) -> None:
        if doc.failure is not None:
            self.failed += 1
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=1, failed=self.failed)


@contextmanager
def host_progress(total: int, quiet: bool) -> Iterator[HostProgress]:
    """A rich progress bar on stderr, or nothing at all with --quiet (cron)."""
    if quiet or total == 0:
        yield HostProgress(None, total)
        return
    columns = (
        TextColumn("[bold]scanning"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"),
        _RateColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=DataConsole(stderr=True), transient=False) as progress:
        yield HostProgress(progress, total)
