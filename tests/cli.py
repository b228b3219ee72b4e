"""The real `auditor` command, run as a user runs it: a separate process, exit code and output."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

AUDITOR = (sys.executable, "-m", "auditor")


def auditor(
    *args: str | Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """`auditor ARGS...`; `env` adds to this process's environment."""
    return subprocess.run(
        [*AUDITOR, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
