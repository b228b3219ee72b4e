"""`auditor report ...`: re-render saved results, and merge the results of sharded scans."""

from __future__ import annotations

from pathlib import Path

import typer

from auditor.atomic import replacing
from auditor.errors import InputError
from auditor.pipeline.plan import parse_formats
from auditor.reports.json_format import JsonRenderer
from auditor.results.io import load_result
from auditor.results.merge import merge_results
from auditor.terminal import visible

app = typer.Typer(help="Work with saved results.", no_args_is_help=True)


@app.command("render")
def render(
    result_file: Path = typer.Argument(..., help="A JSON result written by a scan."),
    fmt: str = typer.Option("html", "--format", "-f", help="Output format."),
    output: Path = typer.Option(..., "--output", "-o", help="File to write."),
) -> None:
    """Render a saved JSON result in another format."""
    (chosen,) = parse_formats([fmt])
    data = chosen.renderer().render(load_result(result_file))
    try:
        with replacing(output) as out:  # whoever has the old report open keeps reading it whole
            out.write(data)
    except OSError as exc:
        raise InputError(f"{output}: cannot write: {exc.strerror}") from None
    typer.echo(f"wrote {output}")


@app.command("merge")
def merge(
    inputs: list[Path] = typer.Argument(
        ..., metavar="INPUT", help="JSON results of the shards' scans."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="The merged JSON result to write."),
) -> None:
    """Merge sharded scans' JSON results into one; a target in several keeps its newest collection."""
    merged = merge_results([load_result(path) for path in inputs], [str(p) for p in inputs])
    data = JsonRenderer().render(merged)
    try:
        with replacing(output) as out:  # a dashboard polling OUTPUT never reads half a file
            out.write(data)
    except OSError as exc:
        raise InputError(f"{output}: cannot write: {exc.strerror}") from None
    for warning in merged.metadata.warnings:
        typer.echo(f"warning: {visible(warning)}", err=True)  # one line each
    typer.echo(
        f"wrote {output}: {len(merged.targets)} targets, {len(merged.results)} results "
        f"from {len(inputs)} inputs"
    )
