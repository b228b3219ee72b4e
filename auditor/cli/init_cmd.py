"""`auditor init` and `auditor collector-script`: files a user starts from."""

from __future__ import annotations

from pathlib import Path

import typer

from auditor.collectors.winrm.request import collector_script, request_json
from auditor.errors import InputError
from auditor.pipeline.hosts import wanted_by
from auditor.resources import package_path
from auditor.rules.pack import load_pack


def _write(path: Path, text: str, force: bool) -> None:
    if path.exists() and not force:
        raise InputError(f"{path}: already exists (use --force to overwrite)")
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror}") from None
    typer.echo(f"wrote {path}")


def init(
    path: Path = typer.Argument(
        Path("scan.yaml"), help="Where to write the example configuration."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented example scan configuration."""
    text = package_path("templates", "scan-example.yaml").read_text("utf-8")
    _write(path, text, force)


def script(
    output: Path = typer.Option(..., "--output", "-o", help="Where to write collect.ps1."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write the exact PowerShell the scanner runs, and the request for the loaded rules beside it.

    On the host: powershell -File collect.ps1 -RequestJson (Get-Content -Raw collect.request.json)
    > HOST.json; then here: auditor scan facts HOST.json.
    """
    _write(output, collector_script(), force)
    # Offline, the script also reads what WS-Man reads online: WinRM's configuration.
    request = request_json(wanted_by(load_pack()), offline=True)
    _write(output.with_suffix(".request.json"), request, force)
