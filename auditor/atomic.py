"""Replacing an output file whole: written beside it, then renamed over it.

A dashboard or a later step polling the file never reads half of it, and a failure part way
(a full disk, a renderer error) leaves the previous file as it was and no temporary behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


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
