"""Where the built-in rule pack and report templates live (installed wheel or source tree)."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    installed = _PACKAGE / "_data" / name
    if installed.is_dir():
        return installed
    source_tree = _PACKAGE.parent / name
    if source_tree.is_dir():
        return source_tree
    raise FileNotFoundError(f"auditor's {name}/ folder is missing from the installation")


def rules_dir() -> Path:
    return _data_dir("rules")


def reports_dir() -> Path:
    return _data_dir("reports")
