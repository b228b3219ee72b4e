"""The `auditor` command line."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from auditor import __version__, logs
from auditor.cli import (
    config_cmd,
    history_cmd,
    init_cmd,
    lab_cmd,
    report_cmd,
    rules_cmd,
    scan_cmd,
)
from auditor.errors import AuditorError, ExitCode, InputError
from auditor.terminal import visible, visible_lines

app = typer.Typer(
    name="auditor",
    help="Audit Windows remote access and authentication: WinRM, RDP, NTLM, Kerberos, AD, IIS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(rules_cmd.app, name="rules")
app.add_typer(scan_cmd.app, name="scan")
app.add_typer(config_cmd.app, name="config")
app.add_typer(report_cmd.app, name="report")
app.add_typer(lab_cmd.app, name="lab")
app.command("init")(init_cmd.init)
app.command("collector-script")(init_cmd.script)
app.add_typer(history_cmd.app, name="history")
app.command("diff")(history_cmd.diff_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"auditor {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
    log_level: str = typer.Option("warning", "--log-level", help="debug, info, warning or error."),
    log_file: Path | None = typer.Option(
        None, "--log-file", help="Write the log here, not to stderr."
    ),
) -> None:
    """Exit codes: 0 clean, 1 findings at/above --fail-on, 2 usage or rule error, 3 incomplete,
    70 internal error (a bug)."""
    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise InputError(f"--log-level: {log_level!r} is not debug, info, warning or error")
    logs.configure(log_level, log_file)


def _internal_error(exc: Exception) -> str:
    """The one line a bug prints; its traceback goes to the `--log-file` when there is one."""
    logged = logs.log_traceback(exc)
    detail = visible(" ".join(logs.redact(str(exc)).split()))[:300] or "(no message)"
    where = (
        f"the traceback is in {logged}"
        if logged is not None
        else "rerun with --log-level debug --log-file FILE for the traceback"
    )
    return f"error: internal error: {type(exc).__name__}: {detail} (this is a bug; {where})"


def run() -> None:
    """Entry point: every error becomes one line and its exit code, never a traceback."""
    try:
        code = app(standalone_mode=False)
    except AuditorError as exc:
        # Plain write: `path:line: message` lines must not be wrapped or restyled.
        sys.stderr.write(f"error: {visible_lines(str(exc))}\n")
        sys.exit(int(exc.exit_code))
    except typer.Abort:
        sys.stderr.write("interrupted\n")
        sys.exit(ExitCode.INTERRUPTED)
    except typer.TyperException as exc:  # typer's own click: usage errors
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            sys.stderr.write(f"error: {exc}\n")
        # click's base exception says 1, which means "findings" here.
        sys.exit(max(int(getattr(exc, "exit_code", ExitCode.USAGE)), ExitCode.USAGE))
    # The one place that catches everything: a bug must not exit 0 or 1, which a scheduler
    # reads as a clean or a normal night.
    except Exception as exc:  # noqa: BLE001
        sys.stderr.write(_internal_error(exc) + "\n")
        sys.exit(ExitCode.INTERNAL)
    sys.exit(code if isinstance(code, int) else 0)
