"""`auditor history` and `auditor diff`: the scans a store holds, re-rendered and compared."""

from __future__ import annotations

import contextlib
import dataclasses
import enum
from pathlib import Path

import typer
from rich.table import Table

from auditor.errors import InputError
from auditor.pipeline.after import build_history_view
from auditor.pipeline.plan import parse_formats
from auditor.results.diff import diff
from auditor.results.io import load_result
from auditor.results.model import ScanResult
from auditor.results.vocabulary import Severity
from auditor.store import Store
from auditor.terminal import DataConsole, echo, json_text

DEFAULT_STORE = Path("auditor-history.db")
STORE_HELP = "History store (SQLite file) that scans record into; default auditor-history.db."

app = typer.Typer(help="Scans recorded with --store: list them, render one again.")


class DiffFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


def _store_path(given: Path | None, ctx: typer.Context) -> Path:
    """`show`'s own --store, else the one given before it (`history --store X show 3`)."""
    parent = ctx.parent.params.get("store") if ctx.parent is not None else None
    return given or parent or DEFAULT_STORE


@app.callback(invoke_without_command=True)
def history(
    ctx: typer.Context,
    store: Path | None = typer.Option(None, "--store", envvar="AUDITOR_STORE", help=STORE_HELP),
) -> None:
    """List the recorded scans, oldest first, with their counts and score."""
    if ctx.invoked_subcommand is not None:
        return
    path = store or DEFAULT_STORE
    with Store(path, create=False) as opened:
        summaries = opened.scans()
    console = DataConsole()
    if not summaries:
        console.print(f"no scans recorded in {path}", highlight=False)
        return
    table = Table(title=f"{path}: {len(summaries)} scan(s)")
    for column in ("scan", "started", "command", "targets", "pass", "fail", "undecided", "waived"):
        table.add_column(
            column, justify="right" if column not in ("started", "command") else "left"
        )
    severities = [s for s in reversed(Severity) if s is not Severity.INFO]
    for severity in severities:
        table.add_column(f"open {severity.value}", justify="right")
    table.add_column("score", justify="right")
    for s in summaries:
        table.add_row(
            str(s.id),
            s.started_at,
            s.command,
            str(s.targets),
            *(str(s.counts.get(key, 0)) for key in ("pass", "fail", "error", "waived")),
            *(str(s.open_findings.get(severity.value, 0)) for severity in severities),
            str(s.score),
        )
    console.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    scan_id: int = typer.Argument(..., help="The scan's id, as `auditor history` lists it."),
    store: Path | None = typer.Option(None, "--store", envvar="AUDITOR_STORE", help=STORE_HELP),
    fmt: str = typer.Option("html", "--format", "-f", help="Output format."),
    output: Path = typer.Option(..., "--output", "-o", help="File to write."),
) -> None:
    """Render a recorded scan again, with what changed since the scan before it."""
    (chosen,) = parse_formats([fmt])
    with Store(_store_path(store, ctx), create=False) as opened:
        result = opened.load(scan_id)
        view = build_history_view(opened, result, scan_id=scan_id)
    result = dataclasses.replace(result, history=view)
    data = chosen.renderer().render(result)
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise InputError(f"{output}: cannot write: {exc.strerror}") from None
    echo(f"wrote {output}")


def _is_scan_id(reference: str) -> bool:
    """A file at that path wins over a scan id of the same name."""
    return reference.isdigit() and not Path(reference).is_file()


def _resolve(reference: str, store: Store | None) -> ScanResult:
    if store is not None and _is_scan_id(reference):
        return store.load(int(reference))
    if not Path(reference).is_file():
        raise InputError(f"{reference}: neither a result file nor a scan id")
    return load_result(Path(reference))


def diff_command(
    old: str = typer.Argument(..., help="Scan id in the store, or a result JSON file."),
    new: str = typer.Argument(..., help="Scan id in the store, or a result JSON file."),
    store: Path = typer.Option(DEFAULT_STORE, "--store", envvar="AUDITOR_STORE", help=STORE_HELP),
    fmt: DiffFormat = typer.Option(DiffFormat.TEXT, "--format", "-f", help="text or json."),
) -> None:
    """Compare two scans: new, fixed, still open, changed evidence, no longer verifiable."""
    with contextlib.ExitStack() as stack:
        opened = (
            stack.enter_context(Store(store, create=False))
            if _is_scan_id(old) or _is_scan_id(new)
            else None
        )
        drift = diff(_resolve(old, opened), _resolve(new, opened))
    if fmt is DiffFormat.JSON:
        echo(json_text(drift.to_json()))
    else:
        echo(drift.to_text(), nl=False)
