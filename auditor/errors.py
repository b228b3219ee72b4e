"""Errors that end a command with a clear one-line message and a distinct exit code."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """What the process exit status means; documented in the README."""

    CLEAN = 0
    FINDINGS = 1
    USAGE = 2
    INCOMPLETE = 3
    # sysexits.h EX_SOFTWARE: a bug. Never 0 or 1, which a scheduler reads as a normal night.
    INTERNAL = 70
    INTERRUPTED = 130


class AuditorError(Exception):
    """An error the user can act on: its message is printed as is, without a traceback."""

    exit_code = ExitCode.USAGE


class InputError(AuditorError):
    """Bad input: a rule file, a config file, a facts document, a command-line value."""


class InputProblems(InputError):
    """Every problem found in an input at once; `problems` holds one `path:line: message` each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class RuleLoadError(InputProblems):
    """One or more rule files (or compliance mapping files) are broken."""
