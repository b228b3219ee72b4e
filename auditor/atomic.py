"""Writing output files: a folder checked writable before a scan, a file replaced whole.

A file is written beside its final name, then renamed over it: a dashboard or a later step
polling the file never reads half of it, and a failure part way (a full disk, a renderer
error) leaves the previous file as it was and no temporary behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from auditor.errors import InputError


@contextmanager
def replacing(path: Path) -> Iterator[BinaryIO]:
    """Yield a file to write `path`'s new content into; it replaces `path` only when the
    block ends without an error. Raises OSError as writing or renaming does."""
    partial = path.with_name(path.name + ".tmp")
    try:
        with partial.open("wb") as out:
            yield out
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def check_folder(path: Path, what: str) -> None:
    """`path` is, or can be made, a folder this process may write in: checked before collecting,
    so that no scan ends with nowhere to put its result."""
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{path}: {what}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{path}: {what}: cannot write in {existing}")
