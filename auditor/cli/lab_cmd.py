"""`auditor lab ...`: the built-in lab of real protocol peers on loopback.

The one door into the lab. Each command imports it when it runs: every auditor command
loads this module, and the scanner's commands must not load the lab with it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:
    from auditor.lab.manager import LabStatus

app = typer.Typer(
    help="Start, inspect and stop the built-in lab (Samba AD DC + emulated Windows hosts).",
    no_args_is_help=True,
)
DIR_OPTION = typer.Option(Path("auditor-lab"), "--dir", help="Folder holding the lab's state.")
console = Console(soft_wrap=True)  # paths stay whole, whatever the width


def _print(status: LabStatus) -> None:
    dc = {None: "none (hosts only)", True: "running", False: "stopped"}[status.dc_running]
    console.print(
        f"lab {status.directory}: DC {dc}; {status.hosts} hosts "
        f"{'running' if status.hosts_running else 'stopped'}",
        highlight=False,
    )
    console.print(f"scan configuration: {status.scan_config}", highlight=False)


@app.command("up")
def up(
    directory: Path = DIR_OPTION,
    definition: Path | None = typer.Option(
        None, "--definition", help="Lab definition YAML (default: built-in)."
    ),
    hosts: int = typer.Option(
        0, "--hosts", min=0, help="Clone host profiles up to N hosts (scale tests)."
    ),
    no_dc: bool = typer.Option(False, "--no-dc", help="Only the emulated hosts, no Samba DC."),
) -> None:
    """Provision (first time) and start the lab; write a scan configuration for it."""
    from auditor.lab import manager

    started = time.monotonic()
    status = manager.up(directory, definition, hosts, with_dc=not no_dc)
    if status.rebuilt_dc:
        console.print("the DC an earlier `lab up` left unfinished was deleted and made anew")
    _print(status)
    console.print(f"up in {time.monotonic() - started:.1f}s")


@app.command("status")
def status(directory: Path = DIR_OPTION) -> None:
    """Is the lab running?"""
    from auditor.lab import manager

    _print(manager.status(directory))


@app.command("down")
def down(directory: Path = DIR_OPTION) -> None:
    """Stop the lab's DC and hosts (the state folder stays for the next `up`)."""
    from auditor.lab import manager

    if manager.down(directory):
        console.print(f"deleted {directory / 'dc'}: a DC an earlier `lab up` left unfinished")
    console.print(f"lab {directory} stopped")
