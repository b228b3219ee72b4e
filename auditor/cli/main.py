"""The `auditor` command line."""

from __future__ import annotations

import sys

import click
import typer
from rich.console import Console

from auditor import __version__
from auditor.cli import init_cmd, lab_cmd, report_cmd, rules_cmd, scan_cmd, scan_domain
from auditor.errors import AuditorError

app = typer.Typer(
    name="auditor",
    help="Audit Windows remote access and authentication: WinRM, RDP, NTLM, Kerberos, AD, IIS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(rules_cmd.app, name="rules")
app.add_typer(scan_cmd.app, name="scan")
_ = scan_domain  # registers `scan domain` on the scan app
app.add_typer(report_cmd.app, name="report")
app.add_typer(lab_cmd.app, name="lab")
app.command("init")(init_cmd.init)
app.command("collector-script")(init_cmd.script)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"auditor {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Exit codes: 0 clean, 1 findings at/above --fail-on, 2 usage or rule error, 3 incomplete."""


def run() -> None:
    """Entry point: AuditorError becomes its one-line message and its exit code, no traceback."""
    try:
        code = app(standalone_mode=False)
    except AuditorError as exc:
        # Plain write: `path:line: message` lines must not be wrapped or restyled.
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(int(exc.exit_code))
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        Console(stderr=True).print("interrupted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
