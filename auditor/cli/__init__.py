"""The command line: `main` assembles the commands; `run` is the entry point.

The top layer: it may import every other; only `lab_cmd` imports the lab, when a `lab`
command runs.

`run` loads the commands itself, so that even a broken installation (a dependency that fails
to import) ends in one line and the internal-error exit code, never in Python's exit 1, which
a scheduler reads as "findings".
"""

from __future__ import annotations

import sys

# auditor.errors.ExitCode.INTERNAL, written out: nothing of auditor may be imported before the try.
_INTERNAL = 70


def run() -> None:
    try:
        from auditor.cli.main import run as run_commands
    except Exception as exc:  # noqa: BLE001 - whatever broke the import, the answer is the same
        sys.stderr.write(
            f"error: internal error: auditor cannot load ({type(exc).__name__}: "
            f"{str(exc)[:200]!r}); reinstall it (scripts/setup, or pip install auditor)\n"
        )
        sys.exit(_INTERNAL)
    run_commands()
