"""Reading a JSON input file with one clear error naming the file (and the line) when it is bad."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from auditor.errors import InputError


def read_json(path: Path) -> Any:
    return read_json_text(path)[1]


def read_json_text(path: Path) -> tuple[str, Any]:
    """The file's text and its parsed value, for callers that also need the text."""
    try:
        text = path.read_text(encoding="utf-8-sig")
        return text, json.loads(text)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
