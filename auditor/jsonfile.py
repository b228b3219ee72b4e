"""Reading JSON input with one clear error naming the file (and the line) when it is bad.

Every JSON document auditor reads from outside (fact documents, collector outputs, results,
journal lines, store rows) goes through `loads`, which bounds the nesting: a document nested
100,000 deep would otherwise end in a RecursionError here or in any recursive reader later.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from auditor.errors import InputError

# No document of ours comes near this (results and facts nest fewer than 10 levels); it
# leaves the interpreter's recursion limit (1000) ample room for the code that reads them.
MAX_DEPTH = 100


class NestedTooDeep(ValueError):
    """The JSON nests arrays and objects deeper than MAX_DEPTH."""

    def __init__(self) -> None:
        super().__init__(f"nested deeper than {MAX_DEPTH} levels")


def _deeper_than(value: dict[str, Any] | list[Any], limit: int) -> bool:
    """Whether `value` nests containers more than `limit` deep, without recursing."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def loads(text: str | bytes, **options: Any) -> Any:
    """`json.loads` that raises NestedTooDeep instead of recursing without bound.

    Raises json.JSONDecodeError for text that is not JSON (both are ValueErrors).
    """
    try:
        value = json.loads(text, **options)
    except RecursionError:
        raise NestedTooDeep from None
    if isinstance(value, dict | list) and _deeper_than(value, MAX_DEPTH):
        raise NestedTooDeep
    return value


def read_json(path: Path) -> Any:
    return read_json_text(path)[1]


def read_json_text(path: Path) -> tuple[str, Any]:
    """The file's text and its parsed value, for callers that also need the text."""
    try:
        text = path.read_text(encoding="utf-8-sig")
        return text, loads(text)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    except NestedTooDeep as exc:
        raise InputError(f"{path}: not an auditor document: {exc}") from None
