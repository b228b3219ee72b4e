"""`auditor report ...`: re-render saved results."""

from __future__ import annotations

from pathlib import Path

import typer

from auditor.cli.common import parse_formats
from auditor.errors import InputError
from auditor.results.io import load_result

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
        output.write_bytes(data)
    except OSError as exc:
        raise InputError(f"{output}: cannot write: {exc.strerror}") from None
    typer.echo(f"wrote {output}")
